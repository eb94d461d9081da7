"""tap-kustomer through a validating proxy built from Kustomer's own OpenAPI file.

Discovery and a sync of every stream go through Prism (proxy mode) in front of the Kustomer
sandbox, so each request the tap sends and each answer the sandbox gives is checked against
``kustomer/larislab-core-resources/openapi.json``, a spec nobody here wrote. Any breach fails,
except the spec's own gaps and quirks listed, each with its reason, in
``tests/contract/specs.py`` (and checked to still occur, so the list cannot go stale).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.contract.conftest import PrismFactory, spec_file
from tests.contract.specs import KUSTOMER_ACCEPTED, KUSTOMER_OAS, kustomer_spec, unexplained
from tests.kustomer.helpers import discover, run_tap, tap_config

pytestmark = pytest.mark.slow

OPEN = {"rate_limit_per_minute": 10**9, "search_rate_limit_per_minute": 10**9}
#: every kind of record, the old ones (archive search, per-conversation notes) included
SEED = {
    "customers": 30,
    "companies": 6,
    "old_fraction": 0.3,
    "reopened_fraction": 0.5,
    "klasses": 2,
    "kobjects_per_klass": 6,
    "multiselect_attributes": True,
}


def test_tap_kustomer_requests_and_the_sandbox_answers_keep_to_kustomers_spec(
    sandbox_factory: Any, prism_factory: PrismFactory, tmp_path: Path
) -> None:
    sandbox = sandbox_factory("kustomer", seed=SEED, **OPEN)
    spec = kustomer_spec(spec_file(KUSTOMER_OAS), tmp_path / "kustomer-oas.json")
    prism = prism_factory(spec, sandbox.url)
    config = tap_config(prism.url, page_size=20, start_date="2000-01-01T00:00:00Z")

    catalog = discover(config)
    run = run_tap(config)  # no catalog: every stream
    prism.stop()

    streams = {entry["tap_stream_id"] for entry in catalog["streams"]}
    empty = sorted(s for s in streams if not run.records.get(s))
    assert not empty, f"streams without records: {empty} (the check would miss their requests)"
    assert len(prism.requests()) == len(sandbox.requests()), "every request went through Prism"
    violations = prism.violations()
    broken = unexplained(violations, KUSTOMER_ACCEPTED)
    assert not broken, "breaches of Kustomer's spec:\n" + "\n".join(map(str, broken[:40]))
    unused = [a.reason for a in KUSTOMER_ACCEPTED if not any(a.matches(v) for v in violations)]
    assert not unused, f"accepted quirks that no longer occur (remove them): {unused}"
    # the sandbox refused only what the docs do not list, on a query's first page, and the
    # tap read on by a documented way
    refused = Counter(
        (r["path"], r["query"]["page"][0]) for r in sandbox.requests() if r["status"] != 200
    )
    assert set(refused) <= {("/v1/customers/search", "1")}, refused
