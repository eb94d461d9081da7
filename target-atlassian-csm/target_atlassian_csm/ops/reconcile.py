"""``reconcile``: does CSM hold what the ledger (or a Singer file) says it should?

The expected records come from :mod:`.expected` (the ledger's confirmed payloads, or a Singer
input mapped by the target itself), all of them or a random sample (``--sample N``, repeatable
with ``--seed``); :mod:`.readback` reads each back from CSM, read endpoints only and within
their limits; :mod:`.compare` says how each differs. The result is a text report on stdout,
optionally a JSON file (``--json``, its shape in docs/operations.md) that the HTML report can
render, and the exit status: 0 no difference, 1 differences, 2 could not run.

It never writes to CSM. It writes to the ledger only the CSM ids it looked up, as a load's
look-ups do, so the next command need not look them up again.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from target_atlassian_csm.files import private_path
from target_atlassian_csm.ledger import Ledger
from target_atlassian_csm.operations import CUSTOMER, ORGANIZATION
from target_atlassian_csm.ops.cli import CommandError, Context, Runner, command
from target_atlassian_csm.ops.compare import KINDS, Difference, compare
from target_atlassian_csm.ops.expected import (
    Expectations,
    Expected,
    SourceError,
    from_ledger,
    from_source,
)
from target_atlassian_csm.ops.readback import Held, ReadBack
from target_atlassian_csm.summary import RunSummary

#: Version of the JSON file's shape (docs/operations.md).
REPORT_VERSION = 1


@dataclass
class Outcome:
    """What reading back found."""

    differences: list[Difference] = field(default_factory=list)
    checked: Counter[str] = field(default_factory=Counter)
    deferred: int = 0  # associations the ledger waits for (expected missing)
    customer_ids: dict[str, str] = field(default_factory=dict)  # looked up by email
    organization_ids: dict[str, str] = field(default_factory=dict)  # read by name


def sample(records: list[Expected], size: int | None, seed: int) -> list[Expected]:
    """All records, or ``size`` of them drawn at random (the same ``seed``, the same draw)."""
    ordered = sorted(records, key=lambda r: (r.entity, r.key))
    if size is None or size >= len(ordered):
        return ordered
    return sorted(random.Random(seed).sample(ordered, size), key=lambda r: (r.entity, r.key))


def reconcile(
    records: list[Expected],
    readback: ReadBack,
    *,
    known_org_id: Callable[[str], str | None],
    spelling: Callable[[str], str],
) -> Outcome:
    """Read ``records`` back from CSM and compare each (see module docstring)."""
    out = Outcome()
    organizations = [r for r in records if r.entity == ORGANIZATION]
    customers = [r for r in records if r.entity == CUSTOMER]
    out.organization_ids = readback.organization_ids([r.identity for r in organizations])
    with_details = [
        out.organization_ids[r.key]
        for r in organizations
        if r.key in out.organization_ids and r.details
    ]
    org_profiles = readback.organization_profiles(with_details)
    held: dict[tuple[str, str], Held | None] = {}
    for record in organizations:
        org_id = out.organization_ids.get(record.key)
        profile = org_profiles.get(org_id) if org_id and record.details else None
        if org_id is not None and profile is None and not record.details:
            profile = Held(org_id, record.identity, None, {})
        held[(ORGANIZATION, record.key)] = profile
    for key, profile in _customers(customers, readback, out).items():
        held[(CUSTOMER, key)] = profile
    org_ids = _organization_ids(
        customers, held, readback, out, known_org_id=known_org_id, spelling=spelling
    )
    spellings = {
        link.name_key: spelling(link.name_key)
        for record in customers
        for link in record.organizations
        if link.name_key is not None
    }
    for record in records:
        out.checked[record.entity] += 1
        out.deferred += sum(1 for link in record.organizations if link.deferred)
        found = held.get((record.entity, record.key))
        out.differences += compare(record, found, org_ids, spellings)
    return out


def _customers(customers: list[Expected], readback: ReadBack, out: Outcome) -> dict[str, Held]:
    """Customer profiles by key: by the ids the ledger knows, else looked up by email."""
    found: dict[str, Held] = {}
    hinted = {r.csm_id: r.key for r in customers if r.csm_id}
    for csm_id, profile in readback.customer_profiles(list(hinted)).items():
        key = hinted.get(csm_id)
        if key is not None and profile.identity.casefold() == key:
            found[key] = profile
    rest = [r for r in customers if r.key not in found]
    if rest:
        out.customer_ids = readback.customer_ids([r.identity for r in rest])
        by_id = {csm_id: key for key, csm_id in out.customer_ids.items()}
        for csm_id, profile in readback.customer_profiles(list(by_id)).items():
            found[by_id[csm_id]] = profile
    return found


def _organization_ids(
    customers: list[Expected],
    held: Mapping[tuple[str, str], Held | None],
    readback: ReadBack,
    out: Outcome,
    *,
    known_org_id: Callable[[str], str | None],
    spelling: Callable[[str], str],
) -> dict[str, str]:
    """CSM ids of the organizations the customers reference: read now, else the ledger's.

    Organizations a profile cannot be checked against by name (it does not name its
    organizations) and whose id nothing knows are read by name.
    """
    ids: dict[str, str] = {}
    unknown: set[str] = set()
    for record in customers:
        profile = held.get((CUSTOMER, record.key))
        for link in record.organizations:
            if link.name_key is None or link.name_key in ids:
                continue
            found = out.organization_ids.get(link.name_key) or known_org_id(link.name_key)
            if found is not None:
                ids[link.name_key] = found
            elif profile is not None and not profile.organization_names:
                unknown.add(link.name_key)
    if unknown:
        read = readback.organization_ids([spelling(k) for k in sorted(unknown)])
        out.organization_ids.update(read)
        ids.update({k: v for k, v in read.items() if k in unknown})
    return ids


# --------------------------------------------------------------------------- report
def report_data(
    expectations: Expectations,
    outcome: Outcome,
    *,
    chosen: list[Expected],
    population: int,
    size: int | None,
    seed: int,
    site: Mapping[str, Any],
    requests: Mapping[str, int],
) -> dict[str, Any]:
    """The JSON file's content (shape in docs/operations.md)."""
    counts = Counter(d.kind for d in outcome.differences)
    return {
        "kind": "reconcile",
        "version": REPORT_VERSION,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "expected_from": expectations.origin,
        "site": dict(site),
        "population": population,
        "sample": (
            {
                "size": size,
                "seed": seed,
                "records": [{"entity": r.entity, "identity": r.identity} for r in chosen],
            }
            if size is not None
            else None
        ),
        "checked": {e: outcome.checked.get(e, 0) for e in (CUSTOMER, ORGANIZATION)},
        "not_checked": dict(expectations.not_checked),
        "deferred_associations": outcome.deferred,
        "source_counts": expectations.source_counts,
        "differences_by_kind": {k: counts.get(k, 0) for k in KINDS},
        "records_differing": len({(d.entity, d.identity.casefold()) for d in outcome.differences}),
        "differences": [d.to_dict() for d in outcome.differences],
        "requests": dict(requests),
        "ok": not outcome.differences,
    }


def render(data: Mapping[str, Any], differences: list[Difference]) -> list[str]:
    """The text report: the differences, then what was not checked, then the summary."""
    lines = [d.describe() for d in differences]
    for why, n in sorted(data["not_checked"].items()):
        lines.append(f"not checked: {plural(n, 'record')} {why}")
    if data["deferred_associations"]:
        lines.append(
            f"not checked: {plural(data['deferred_associations'], 'association')} the ledger "
            "defers (their organization has not been loaded yet)"
        )
    source = data.get("source_counts")
    if source:
        for entity, c in source.items():
            if c.get("received"):
                parts = ", ".join(
                    f"{k} {c.get(k, 0)}" for k in ("received", "skipped", "rejected", "failed")
                )
                lines.append(f"source {entity}s: {parts}")
    checked = data["checked"]
    total = sum(checked.values())
    drawn = (
        f" (a sample of {data['sample']['size']} of {data['population']}, "
        f"seed {data['sample']['seed']})"
        if data["sample"]
        else ""
    )
    requests = data["requests"]
    reads = sum(v for k, v in requests.items() if k in ("lookups", "reads", "other"))
    throttled = requests.get("throttled_429", 0)
    if data["ok"]:
        verdict = "no difference"
    else:
        kinds = ", ".join(f"{k} {v}" for k, v in data["differences_by_kind"].items() if v)
        verdict = (
            f"{plural(len(data['differences']), 'difference')} in "
            f"{plural(data['records_differing'], 'record')} ({kinds})"
        )
    lines.append(
        f"Reconcile ({data['expected_from']} against CSM site {data['site']['cloud_id']!r}): "
        f"{total} records checked{drawn}: {checked[CUSTOMER]} customers, "
        f"{checked[ORGANIZATION]} organizations; {verdict}. "
        f"{reads} read requests, {throttled} throttled."
    )
    return lines


def plural(count: int, noun: str) -> str:
    """``1 record``, ``2 records``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


# -------------------------------------------------------------------------- command
def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        msg = f"must be at least 1, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


@command(
    "reconcile",
    "Read back from CSM what the ledger (or a Singer file) says it holds and report every "
    "difference: missing records, detail values, display names, associations. Reads only.",
)
def register(parser: argparse.ArgumentParser) -> Runner:
    """Arguments of ``reconcile``."""
    parser.add_argument(
        "--sample", type=_positive, metavar="N", help="check N records drawn at random"
    )
    parser.add_argument(
        "--seed", type=int, help="seed of the random draw (printed; the same seed, the same draw)"
    )
    parser.add_argument(
        "--source",
        metavar="FILE",
        help="a Singer file (or - for stdin: a tap's output) as the truth instead of the "
        "ledger; mapped as the target would (a dry run), nothing is loaded",
    )
    parser.add_argument(
        "--json", dest="json_path", metavar="PATH", help="also write the result as JSON here"
    )
    return run


def _expectations(args: argparse.Namespace, context: Context, ledger: Ledger) -> Expectations:
    if args.source is None:
        return from_ledger(ledger)
    if args.source == "-":
        messages: IO[str] = sys.stdin
    else:
        try:
            messages = Path(args.source).open(encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as exc:
            msg = f"cannot read --source {args.source}: {exc.strerror or exc}"
            raise CommandError(msg) from None
    try:
        return from_source(context.config, messages, ledger, context.logger)
    except SourceError as exc:
        raise CommandError(str(exc)) from None
    finally:
        if messages is not sys.stdin:
            messages.close()


def _spelling(expectations: Expectations, ledger: Ledger) -> Callable[[str], str]:
    def spelling(name_key: str) -> str:
        if name_key in expectations.spellings:
            return expectations.spellings[name_key]
        row = ledger.get(ORGANIZATION, name_key)
        semantic = row.semantic() if row is not None else None
        return str((semantic or {}).get("identity") or name_key)

    return spelling


def run(args: argparse.Namespace, context: Context) -> int:
    """Run ``reconcile``; 0 no difference, 1 differences."""
    ledger = context.ledger()
    expectations = _expectations(args, context, ledger)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    chosen = sample(expectations.records, args.sample, seed)
    context.logger.info(
        "Reconciling %d of %d records (%s) with CSM: reads only.",
        len(chosen),
        len(expectations.records),
        expectations.origin,
    )
    summary = RunSummary()
    outcome = reconcile(
        chosen,
        ReadBack(context.client(summary), context.logger),
        known_org_id=ledger.organization_id,
        spelling=_spelling(expectations, ledger),
    )
    # What a load's look-ups would keep: ids found by email or name (no CSM write).
    ledger.set_customer_ids(outcome.customer_ids.items())
    names = {k: _spelling(expectations, ledger)(k) for k in outcome.organization_ids}
    ledger.set_organization_ids((names[k], v) for k, v in outcome.organization_ids.items())
    population = len(expectations.records)
    data = report_data(
        expectations,
        outcome,
        chosen=chosen,
        population=population,
        size=args.sample if args.sample is not None and args.sample < population else None,
        seed=seed,
        site={"cloud_id": context.config["cloud_id"], "base_url": context.config["base_url"]},
        requests=summary.to_dict()["requests"],
    )
    for line in render(data, outcome.differences):
        print(line)
    if args.json_path:
        target = private_path(args.json_path)
        target.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        context.logger.info("Reconciliation written to %s", target)
    return 0 if data["ok"] else 1
