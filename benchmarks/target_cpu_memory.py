"""Target CPU and memory: the target's own cost per record, with CSM's waiting taken away.

* CPU (best of ``--repeat`` alternated runs of each): records per second through
  target-atlassian-csm with an instant in-memory fake of the
  CSM API (every task FINISHED at its first poll, polled at once), over a trivial singer-sdk
  target (a RecordSink that drops each record) reading the same Singer lines in the same
  process, as wall time and as the process's CPU time. Aim (issue 15): >= 0.8.
* Memory: peak RSS of the target, each size in a fresh process, for 10,000 and 1,000,000
  records. Aim: ratio <= 1.2 and the 1M peak under 200 MB.

    .venv/bin/python benchmarks/target_cpu_memory.py                 # both
    .venv/bin/python benchmarks/target_cpu_memory.py --cpu-records 50000 --skip-memory
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from singer_sdk.sinks import RecordSink
from singer_sdk.target_base import Target

import target_atlassian_csm.runtime as runtime_module
from target_atlassian_csm import polling
from target_atlassian_csm.client import CsmClient
from target_atlassian_csm.target import TargetAtlassianCSM

FIELDS = {
    "customer": [
        {"name": "Region", "type": {"name": "SELECT", "options": ["AMER", "EMEA", "APAC"]}},
        {"name": "Seats", "type": {"name": "NUMBER"}},
        {"name": "Plan", "type": {"name": "TEXT"}},
    ],
    "organization": [{"name": "Industry", "type": {"name": "TEXT"}}],
}


class InstantCsm(CsmClient):
    """The CSM API answered from memory: submits get a task id, tasks are done at once."""

    def request(
        self,
        method: str,  # noqa: ARG002
        path: str,
        *,
        body: bytes | None = None,
        idempotency_key: str | None = None,  # noqa: ARG002
        kind: str = "other",
        **_: Any,  # root, retries: nothing to retry in memory
    ) -> Any:
        self.summary.request(kind)
        if path.endswith("/bulk"):
            return {"id": f"t{time.monotonic_ns()}"}
        if path.startswith("tasks/"):
            return {"status": "FINISHED", "failures": []}
        if path.endswith("/details"):
            return {"results": FIELDS[path.split("/", maxsplit=1)[0]]}
        if path == "organization/fetch":
            names = json.loads(body or b"{}").get("organizationNames", [])
            return {"results": [{"id": str(abs(hash(n)) % 10**9), "name": n} for n in names]}
        return {}


def instant_api() -> None:
    """Swap the real client for the instant one and let lanes poll without waiting."""
    runtime_module.CsmClient = InstantCsm  # type: ignore[misc]
    original = polling.PollSchedule.__init__

    def fast(self: polling.PollSchedule, **kwargs: Any) -> None:
        original(self, **kwargs)
        self.min_seconds = 0.0
        self.probe_seconds = 0.0

    polling.PollSchedule.__init__ = fast  # type: ignore[method-assign]


def singer_lines(records: int, orgs: int = 100) -> Iterator[str]:
    """A CRM export: organizations, then customers referencing them, STATE every 1000."""
    props = {
        "id": {"type": "string"},
        "email": {"type": "string"},
        "name": {"type": "string"},
        "company": {"type": "string"},
        "region": {"type": "string"},
        "seats": {"type": "integer"},
        "plan": {"type": "string"},
    }
    yield json.dumps(
        {
            "type": "SCHEMA",
            "stream": "organizations",
            "key_properties": ["id"],
            "schema": {"type": "object", "properties": {k: props[k] for k in ("id", "name")}},
        }
    )
    for i in range(orgs):
        yield json.dumps(
            {
                "type": "RECORD",
                "stream": "organizations",
                "record": {"id": f"o{i}", "name": f"Org {i}"},
            }
        )
    yield json.dumps(
        {
            "type": "SCHEMA",
            "stream": "customers",
            "key_properties": ["id"],
            "schema": {"type": "object", "properties": props},
        }
    )
    for i in range(records):
        record = {
            "id": str(i),
            "email": f"user{i}@example.com",
            "name": f"User {i}",
            "company": f"Org {i % orgs}",
            "region": ("AMER", "EMEA", "APAC")[i % 3],
            "seats": i % 500,
            "plan": "Standard",
        }
        yield json.dumps({"type": "RECORD", "stream": "customers", "record": record})
        if (i + 1) % 1000 == 0:
            yield json.dumps({"type": "STATE", "value": {"customers": i + 1}})


class _DropSink(RecordSink):
    def process_record(self, record: dict, context: dict) -> None:
        """Nothing: the baseline is the SDK's own reading and validation."""


class TrivialTarget(Target):
    """The baseline: singer-sdk reading the same stream into sinks that do nothing."""

    name = "trivial-target"
    config_jsonschema = {"type": "object", "properties": {}}
    default_sink_class = _DropSink


def config(tmp: Path) -> dict[str, Any]:
    return {
        "base_url": "https://csm.invalid",
        "cloud_id": "bench",
        "access_token": "bench-token",
        "ledger_path": str(tmp / "ledger.sqlite"),
        "dead_letter_path": str(tmp / "dead.jsonl"),
        "summary_path": str(tmp / "summary.json"),
        "max_requests_per_second": 0,
        "state_every_seconds": 5,
        "state_every_records": 10000,
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(target: Target, text: str) -> tuple[float, float]:
    """Wall seconds and the process's CPU seconds (every thread) for one run."""
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    with contextlib.redirect_stdout(io.StringIO()):
        target.listen(io.StringIO(text))
    return time.perf_counter() - started, _cpu_seconds() - cpu_started


def _rounded(runs: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(round(wall, 2), round(cpu_s, 2)) for wall, cpu_s in runs]


def cpu(records: int, repeat: int = 3) -> None:
    """Alternate the two targets ``repeat`` times and compare the best run of each: on a
    shared machine the best run is the one least disturbed by other work.

    Two ratios: wall time (what a user waits for; the target's lanes and SQLite use a second
    core a little) and CPU time of the whole process, every thread counted (the work done,
    the steadier of the two when other work shares the machine).
    """
    instant_api()
    text = "\n".join(singer_lines(records)) + "\n"
    timed(TrivialTarget(config={}), text)  # warm-up: imports, first-use caches
    bases, ours_runs = [], []
    created = 0
    for _ in range(repeat):
        bases.append(timed(TrivialTarget(config={}), text))
        with tempfile.TemporaryDirectory() as tmp:
            ours_runs.append(timed(TargetAtlassianCSM(config=config(Path(tmp))), text))
            summary = json.loads((Path(tmp) / "summary.json").read_text())
        created = summary["entities"]["customer"]["created"]
    base, ours = min(w for w, _ in bases), min(w for w, _ in ours_runs)
    base_cpu, ours_cpu = min(c for _, c in bases), min(c for _, c in ours_runs)
    print(
        f"CPU: {records} records, best of {repeat} alternated runs; trivial SDK target "
        f"{records / base:,.0f} rec/s, target-atlassian-csm {records / ours:,.0f} rec/s "
        f"({created} customers confirmed); wall ratio {base / ours:.2f}; CPU-time ratio "
        f"{base_cpu / ours_cpu:.2f} ({base_cpu:.2f} s vs {ours_cpu:.2f} s)  (aim >= 0.8)\n"
        f"     every run (wall s, CPU s): trivial {_rounded(bases)}, target {_rounded(ours_runs)}",
        flush=True,
    )


def memory_child(records: int) -> None:
    """Run in a fresh process: feed ``records`` through the target, print peak RSS in MB."""
    instant_api()
    with tempfile.TemporaryDirectory() as tmp:
        target = TargetAtlassianCSM(config=config(Path(tmp)))
        stream = io.StringIO()
        reader = _LineStream(singer_lines(records))
        with contextlib.redirect_stdout(stream):
            target.listen(reader)  # type: ignore[arg-type]
    # VmHWM, not ru_maxrss: Linux's ru_maxrss keeps the high-water mark of the image this
    # process was forked from (the parent benchmark), which would set a floor under the figure.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            print(int(line.split()[1]) / 1024)
            return
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


class _LineStream:
    """Singer lines generated on the fly, so the input never sits in memory (the SDK's reader
    only iterates over its input)."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines

    def __iter__(self) -> Iterator[str]:
        for line in self._lines:
            yield line + "\n"


def memory(sizes: list[int]) -> None:
    peaks = {}
    for size in sizes:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, __file__, "--memory-child", str(size)],
            capture_output=True,
            text=True,
            check=True,
        )
        peaks[size] = float(done.stdout.strip().splitlines()[-1])
        print(
            f"Memory: {size:>9,} records: peak RSS {peaks[size]:.0f} MB "
            f"({time.monotonic() - started:.0f}s)",
            flush=True,
        )
    low, high = min(sizes), max(sizes)
    print(
        f"Memory: peak ratio {high:,} / {low:,} records = {peaks[high] / peaks[low]:.2f} "
        f"(aim <= 1.2); largest peak {peaks[high]:.0f} MB (aim < 200)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-records", type=int, default=30000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-sizes", default="10000,1000000")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-cpu", action="store_true")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    if not args.skip_cpu:
        cpu(args.cpu_records, args.repeat)
    if not args.skip_memory:
        memory([int(x) for x in args.memory_sizes.split(",")])


if __name__ == "__main__":
    main()
