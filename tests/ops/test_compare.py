"""The comparison of one expected record with what CSM holds, and the tolerant profile reader."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from target_atlassian_csm.ops.compare import ASSOCIATION, MISSING, VALUE, compare, same_values
from target_atlassian_csm.ops.expected import Expected, OrgLink, link_for
from target_atlassian_csm.ops.readback import Held, parse_profile
from target_atlassian_csm.ops.reconcile import sample

values = st.lists(st.text(min_size=1, max_size=8), max_size=6)


@given(values, st.randoms())
def test_values_compare_in_any_order(items, rnd):
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert same_values(items, shuffled)
    assert same_values(items, [f"  {v} " for v in shuffled]) == same_values(
        [v.strip() for v in items], [v.strip() for v in items]
    )


@given(values, st.text(min_size=1, max_size=8).filter(lambda v: v.strip()))
def test_a_value_more_or_less_is_a_difference(items, extra):
    assert not same_values(items, [*items, extra])
    assert not same_values([*items, extra], items)


def test_numbers_compare_by_value_codes_do_not():
    assert same_values(["10"], ["10.0"])
    assert same_values(["1.50"], ["1.5"])
    assert not same_values(["0123"], ["123"])  # a code, not a number
    assert not same_values(["+1"], ["1"])


def customer(**more) -> Expected:
    base = {
        "entity": "customer",
        "key": "a@example.com",
        "identity": "a@example.com",
        "display_name": "A",
        "details": {"Plan": ["Free"]},
    }
    return Expected(**{**base, **more})


def held(**more) -> Held:
    base = {
        "csm_id": "qm:1",
        "identity": "A@example.com",
        "display_name": "A",
        "details": {"Plan": ["Free"], "Other": ["x"]},
    }
    return Held(**{**base, **more})


def kinds(differences) -> list[tuple[str, str | None]]:
    return [(d.kind, d.field) for d in differences]


def test_missing_record():
    assert kinds(compare(customer(), None, {}, {})) == [(MISSING, None)]


def test_fields_csm_holds_beyond_the_expected_are_not_differences():
    assert compare(customer(), held(), {}, {}) == []
    assert kinds(compare(customer(), held(details={}), {}, {})) == [(VALUE, "Plan")]


@given(member_by=st.sampled_from(["id", "name", "none"]))
def test_membership_is_matched_by_id_or_by_name(member_by):
    link = OrgLink("name:acme", "acme")
    record = customer(organizations=(link,))
    profile = held(
        organization_ids=frozenset({"7"} if member_by == "id" else {"8"}),
        organization_names=frozenset({"acme"} if member_by == "name" else set()),
    )
    found = compare(record, profile, {"acme": "7"}, {"acme": "ACME"})
    if member_by == "none":
        assert kinds(found) == [(ASSOCIATION, None)]
        assert found[0].expected == "ACME"
    else:
        assert found == []


def nothing(stream: str, source_id: str) -> None:
    return None


def test_deferred_and_unresolved_references():
    key = "a@example.com"
    deferred = link_for("source:companies:k1", key, [nothing], {(key, "source:companies:k1")})
    unknown = link_for("source:companies:k2", key, [nothing], set())
    resolved = link_for("source:companies:k3", key, [lambda _s, i: f"org {i}"], set())
    assert deferred.deferred
    assert unknown.name_key is None
    assert not unknown.deferred
    assert resolved.name_key == "org k3"
    found = compare(customer(organizations=(deferred, unknown)), held(), {}, {})
    assert kinds(found) == [(ASSOCIATION, None)]
    assert found[0].expected == "source:companies:k2"


def test_profiles_are_read_in_either_shape():
    listed = parse_profile(
        "customer",
        {
            "id": "qm:1",
            "email": "a@example.com",
            "details": [{"name": "Plan", "values": ["Free"]}, {"name": "Empty", "values": []}],
            "organizations": [{"id": 7, "name": "Acme"}],
        },
    )
    mapped = parse_profile(
        "customer",
        {"customerId": "qm:1", "email": "a@example.com", "details": {"Plan": "Free"},
         "organizationIds": ["7"]},
    )  # fmt: skip
    assert listed is not None
    assert mapped is not None
    assert listed.details == mapped.details == {"Plan": ["Free"]}
    assert listed.organization_ids == mapped.organization_ids == frozenset({"7"})
    assert listed.organization_names == frozenset({"acme"})
    assert parse_profile("customer", {"email": "no id"}) is None


@given(
    st.lists(st.integers(0, 200), unique=True, max_size=60),
    st.integers(1, 80),
    st.integers(0, 2**31 - 1),
)
def test_a_sample_is_a_repeatable_subset_of_the_asked_size(keys, size, seed):
    records = [Expected("customer", f"u{k}", f"u{k}") for k in keys]
    drawn = sample(records, size, seed)
    assert len(drawn) == min(size, len(records))
    assert {r.key for r in drawn} <= {r.key for r in records}
    assert len({r.key for r in drawn}) == len(drawn)
    assert drawn == sample(list(reversed(records)), size, seed)
