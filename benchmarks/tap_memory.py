"""Peak RSS of each tap at two sizes of its sandbox seed, each size in a fresh tap process.

For each tap and size: a fresh sandbox in this process (rate limits off, journal bodies off),
seeded with that many records, and the tap run as its own process (``tap-... --config``,
stdout to a file, as Meltano runs it). The tap's peak RSS is that process's own ``VmHWM``
(``benchmarks/peak_rss.py``), so the sandbox's memory is not counted (``wait4``'s
``ru_maxrss`` would report the image the tap was forked from). Aim (issue 15): ratio
large / small <= 1.1 and the large peak under 100 MB (issue 7's was <= 1.2, < 200 MB). The
time the sandbox took to seed is printed too (1,000,000 HubSpot contacts: ~1 min, ~2.5 GB in
this process).

    .venv/bin/python benchmarks/tap_memory.py                         # both taps
    .venv/bin/python benchmarks/tap_memory.py --only hubspot --hubspot-sizes 10000,200000
    .venv/bin/python benchmarks/tap_memory.py --only hubspot --hubspot-sizes 10000,1000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

from sandbox.core.server import SandboxServer

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"


SEED_SECONDS: dict[str, float] = {}  # the last seed's wall time, by tap


def run_tap(executable: str, config: dict) -> tuple[float, float, int]:
    """Run the tap; return (peak RSS MB, wall seconds, bytes of Singer output)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(config))
        out_path = Path(tmp) / "out.jsonl"
        started = time.monotonic()
        peak_path = Path(tmp) / "peak"
        with out_path.open("wb") as out:
            code = subprocess.call(
                [
                    str(BIN / "python"),
                    str(Path(__file__).with_name("peak_rss.py")),
                    str(peak_path),
                    executable,
                    "--config",
                    str(path),
                ],
                stdout=out,
                stderr=subprocess.DEVNULL,
            )
        wall = time.monotonic() - started
        if code:
            msg = f"{executable} exited {code}"
            raise SystemExit(msg)
        records = 0
        with out_path.open("rb") as lines:
            for line in lines:
                if line.startswith(b'{"type":"RECORD"') or b'"type": "RECORD"' in line[:40]:
                    records += 1
        return float(peak_path.read_text()), wall, records


def hubspot(size: int) -> tuple[float, float, int]:
    from sandbox.hubspot import create_app

    app = create_app(burst_limit=0, search_rate_per_second=0, journal_bodies=False)
    started = time.monotonic()
    app.seed("default", contacts=size, companies=max(1, size // 10))
    SEED_SECONDS["hubspot"] = time.monotonic() - started
    with SandboxServer(app) as server:
        return run_tap(
            "tap-hubspot-contacts",
            {
                "access_token": "sandbox-token",
                "api_url": server.url,
                "search_index_lag_seconds": 0,
                "requests_per_ten_seconds": 1_000_000,
                "search_requests_per_second": 1_000_000,
                "rate_limit_share": 1.0,
            },
        )


def kustomer(size: int) -> tuple[float, float, int]:
    from sandbox.kustomer import create_app

    app = create_app(rate_limit_per_minute=0, search_rate_limit_per_minute=0, journal_bodies=False)
    started = time.monotonic()
    app.seed(
        "default",
        customers=size,
        companies=max(1, size // 10),
        conversations_per_customer=1,
        messages_per_conversation=1,
        notes_per_conversation=0,
        kobjects_per_klass=10,
    )
    SEED_SECONDS["kustomer"] = time.monotonic() - started
    with SandboxServer(app) as server:
        return run_tap(
            "tap-kustomer",
            {
                "api_key": app.knobs["api_key"],
                "base_url": server.url,
                "start_date": "2000-01-01T00:00:00Z",
                "index_lag_seconds": 0,
                "rate_limit_per_minute": 10**9,
                "search_rate_limit_per_minute": 10**9,
                "rate_limit_share": 1.0,
            },
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("hubspot", "kustomer"))
    parser.add_argument("--hubspot-sizes", default="10000,200000", help="contacts")
    parser.add_argument("--kustomer-sizes", default="10000,50000", help="customers")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, dict[int, dict[str, float]]] = {}
    for name, fn, sizes in (
        ("hubspot", hubspot, args.hubspot_sizes),
        ("kustomer", kustomer, args.kustomer_sizes),
    ):
        if args.only and args.only != name:
            continue
        peaks: dict[int, dict[str, float]] = {}
        for size in [int(s) for s in sizes.split(",")]:
            peak, wall, records = fn(size)
            seeded = SEED_SECONDS.get(name, float("nan"))
            peaks[size] = {
                "peak_mb": round(peak, 1),
                "wall_s": round(wall, 1),
                "records": records,
                "seed_s": round(seeded, 1),
            }
            print(
                f"{name:<9} seed {size:>8,}: {records:>8,} records emitted in {wall:6.1f}s, "
                f"peak RSS {peak:6.1f} MB (sandbox seeded in {seeded:.1f}s)",
                flush=True,
            )
        low, high = min(peaks), max(peaks)
        ratio = peaks[high]["peak_mb"] / peaks[low]["peak_mb"]
        print(
            f"{name:<9} peak ratio {high:,} / {low:,} = {ratio:.2f} (aim <= 1.1); largest peak "
            f"{peaks[high]['peak_mb']:.0f} MB (aim < 100)",
            flush=True,
        )
        results[name] = peaks
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
