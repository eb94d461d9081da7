"""Run a console script and write its own peak RSS (VmHWM, MB) to a file when it exits.

    python benchmarks/peak_rss.py OUT_FILE tap-kustomer --config config.json

``ru_maxrss`` of a child (``wait4``, ``RUSAGE_CHILDREN``) is not the tap's own peak: Linux keeps
the high-water mark of the image the child was forked from, so a benchmark that holds a
seeded sandbox would be measured instead of the tap. ``VmHWM`` is reset by ``exec``.
"""

from __future__ import annotations

import atexit
import sys
from importlib.metadata import entry_points
from pathlib import Path


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    out, script, *args = sys.argv[1:]
    atexit.register(lambda: Path(out).write_text(f"{vm_hwm_mb():.1f}\n"))
    (entry,) = entry_points(group="console_scripts", name=script)
    sys.argv = [script, *args]
    sys.exit(entry.load()())


if __name__ == "__main__":
    main()
