"""The HubSpot sandbox: one test (at least) per rule it implements."""

from __future__ import annotations

import requests

from sandbox.core import ManualClock

AUTH = {"Authorization": "Bearer sandbox-token"}
V3 = "/crm/v3/objects"
DATED = "/crm/objects/2026-03"


def get(sb, path, **params):
    return requests.get(f"{sb.url}{path}", params=params, headers=AUTH, timeout=10)


def post(sb, path, body, headers=AUTH, **params):
    return requests.post(f"{sb.url}{path}", json=body, params=params, headers=headers, timeout=10)


def window_filter(low="0", high=None):
    filters = [{"propertyName": "lastmodifieddate", "operator": "GT", "value": low}]
    if high:
        filters.append({"propertyName": "lastmodifieddate", "operator": "LTE", "value": high})
    return [{"filters": filters}]


# ------------------------------------------------------------------ auth
def test_missing_or_unknown_token_is_401_invalid_authentication(hubspot):
    sb = hubspot(seed={"contacts": 3, "companies": 1})
    for headers in ({}, {"Authorization": "Bearer nope"}):
        response = requests.get(f"{sb.url}{V3}/contacts", headers=headers, timeout=10)
        assert response.status_code == 401
        body = response.json()
        assert body["category"] == "INVALID_AUTHENTICATION"
        assert body["status"] == "error"
        assert body["correlationId"]


def test_oauth_refresh_issues_expiring_tokens_on_both_endpoint_versions(sandbox_factory):
    clock = ManualClock()
    sb = sandbox_factory("hubspot", clock=clock, seed={"contacts": 2, "companies": 1})
    form = {
        "grant_type": "refresh_token",
        "client_id": "sandbox-client-id",
        "client_secret": "sandbox-client-secret",
        "refresh_token": "sandbox-refresh-token",
    }
    for version in ("2026-03", "v1"):
        token = requests.post(f"{sb.url}/oauth/{version}/token", data=form, timeout=10).json()
        assert token["expires_in"] == 1800
        assert token["refresh_token"] == "sandbox-refresh-token"
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    ok = requests.get(f"{sb.url}{V3}/contacts", headers=headers, timeout=10)
    assert ok.status_code == 200
    assert "X-HubSpot-RateLimit-Daily" not in ok.headers  # not on OAuth calls
    assert "X-HubSpot-RateLimit-Max" in ok.headers
    clock.advance(1801)
    expired = requests.get(f"{sb.url}{V3}/contacts", headers=headers, timeout=10)
    assert expired.status_code == 401
    assert expired.json()["category"] == "EXPIRED_AUTHENTICATION"
    bad = requests.post(f"{sb.url}/oauth/v1/token", data={**form, "refresh_token": "x"}, timeout=10)
    assert bad.status_code == 400
    assert bad.json()["status"] == "BAD_REFRESH_TOKEN"
    sb.knobs(oauth_token_versions=["v1"])
    assert requests.post(f"{sb.url}/oauth/2026-03/token", data=form, timeout=10).status_code == 404


# ------------------------------------------------------------------ list
def test_list_pages_with_opaque_cursor_default_10_max_100(hubspot):
    sb = hubspot(
        seed={"contacts": 250, "companies": 5, "archived_contacts": 0, "merged_contacts": 0}
    )
    first = get(sb, f"{V3}/contacts").json()
    assert len(first["results"]) == 10
    seen, after = [], None
    while True:
        params = {"limit": 100, **({"after": after} if after else {})}
        page = get(sb, f"{DATED}/contacts", **params).json()
        seen += [r["id"] for r in page["results"]]
        after = page.get("paging", {}).get("next", {}).get("after")
        if not after:
            break
        assert not after.isdigit()  # opaque, not an offset
    assert len(seen) == len(set(seen)) == 250
    too_big = get(sb, f"{V3}/contacts", limit=101)
    assert too_big.status_code == 400
    assert too_big.json()["category"] == "VALIDATION_ERROR"


def test_list_returns_default_properties_unless_asked_and_values_are_strings(hubspot):
    sb = hubspot(seed={"contacts": 20, "companies": 3})
    default = get(sb, f"{V3}/contacts", limit=1).json()["results"][0]
    assert set(default["properties"]) == {
        "firstname", "lastname", "email", "createdate", "lastmodifieddate", "hs_object_id"
    }  # fmt: skip
    asked = get(sb, f"{V3}/contacts", limit=5, properties="cf_multi,cf_number,nope").json()
    row = asked["results"][3]
    assert "nope" not in row["properties"]  # unknown names are ignored
    assert all(v is None or isinstance(v, str) for v in row["properties"].values())
    assert ";" in row["properties"]["cf_multi"]
    assert set(row) >= {"id", "properties", "createdAt", "updatedAt", "archived"}


def test_list_archived_true_returns_only_archived_records(hubspot):
    sb = hubspot(seed={"contacts": 300, "companies": 5, "archived_contacts": 4})
    rows = get(sb, f"{V3}/contacts", archived="true", limit=100).json()["results"]
    assert len(rows) == 4
    assert all(r["archived"] and r["archivedAt"] for r in rows)
    live = get(sb, f"{V3}/contacts", limit=100).json()["results"]
    assert not any(r["archived"] for r in live)


def test_list_url_too_long_is_414(hubspot):
    sb = hubspot(seed={"preset": "many_properties", "contacts": 5, "companies": 2})
    names = ",".join(f"cf_extra_{i:04d}" for i in range(1000))
    response = get(sb, f"{V3}/contacts", properties=names)
    assert response.status_code == 414


def test_inline_associations_on_list(hubspot):
    sb = hubspot(seed={"contacts": 10, "companies": 5})
    row = get(sb, f"{V3}/contacts", limit=1, associations="companies").json()["results"][0]
    types = {a["type"] for a in row["associations"]["companies"]["results"]}
    assert types == {"contact_to_company", "contact_to_company_unlabeled"}


# ------------------------------------------------------------ batch read
def test_batch_read_limits_inputs_and_reports_missing_with_207(hubspot):
    sb = hubspot(
        seed={"contacts": 30, "companies": 3, "merged_contacts": 0, "archived_contacts": 0}
    )
    body = {"inputs": [{"id": "1001"}, {"id": "1002"}, {"id": "999"}], "properties": ["cf_bool"]}
    response = post(sb, f"{V3}/contacts/batch/read", body)
    assert response.status_code == 207
    out = response.json()
    assert out["status"] == "COMPLETE"
    assert [r["id"] for r in out["results"]] == ["1001", "1002"]
    assert out["results"][1]["properties"]["cf_bool"] in ("true", "false")
    assert out["errors"][0]["context"]["ids"] == ["999"]
    too_many = {"inputs": [{"id": str(i)} for i in range(101)]}
    assert post(sb, f"{V3}/contacts/batch/read", too_many).status_code == 400
    by_email = post(
        sb,
        f"{DATED}/contacts/batch/read",
        {"inputs": [{"id": "ADA.0@EXAMPLE.COM"}], "idProperty": "email"},
    ).json()
    assert by_email["results"][0]["id"] == "1001"


# ---------------------------------------------------------------- search
def test_search_filters_sorts_and_pages_by_offset(hubspot):
    sb = hubspot(seed={"contacts": 450, "companies": 5})
    body = {
        "filterGroups": window_filter(),
        "sorts": [{"propertyName": "hs_object_id", "direction": "DESCENDING"}],
        "limit": 200,
    }
    first = post(sb, f"{V3}/contacts/search", body).json()
    assert first["total"] == len(sb.app.stores["contacts"].active_ids())
    # "up to 200": by default the sandbox serves 100 of the 200 asked, and says more remain
    assert len(first["results"]) == 100
    assert first["paging"]["next"]["after"] == "100"
    sb.knobs(search_page_clamp=0)
    first = post(sb, f"{V3}/contacts/search", body).json()
    assert len(first["results"]) == 200
    assert first["paging"]["next"]["after"] == "200"
    ids = [int(r["id"]) for r in first["results"]]
    assert ids == sorted(ids, reverse=True)
    assert "X-HubSpot-RateLimit-Max" not in post(sb, f"{V3}/contacts/search", body).headers
    eq = post(
        sb,
        f"{V3}/contacts/search",
        {
            "filterGroups": [
                {"filters": [{"propertyName": "cf_multi", "operator": "EQ", "value": "sms"}]}
            ]
        },
    ).json()
    assert eq["total"] > 0
    assert post(sb, f"{V3}/contacts/search", {**body, "limit": 201}).status_code == 400


def test_search_stops_at_the_result_cap_with_400(hubspot):
    sb = hubspot(seed={"contacts": 300, "companies": 5}, search_max_results=250)
    body = {"filterGroups": window_filter(), "limit": 200}
    page = post(sb, f"{V3}/contacts/search", body).json()
    assert page["total"] > 250
    second = post(sb, f"{V3}/contacts/search", {**body, "after": "200"}).json()
    assert len(second["results"]) == 50  # cut at the cap
    response = post(sb, f"{V3}/contacts/search", {**body, "after": "250"})
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


def test_search_never_returns_archived_and_respects_filter_limits(hubspot):
    sb = hubspot(seed={"contacts": 300, "companies": 5, "archived_contacts": 5})
    archived = set(map(str, sb.app.stores["contacts"].archived_ids()))
    rows = post(sb, f"{V3}/contacts/search", {"filterGroups": window_filter(), "limit": 200})
    assert not archived & {r["id"] for r in rows.json()["results"]}
    six_groups = {"filterGroups": window_filter() * 6}
    assert post(sb, f"{V3}/contacts/search", six_groups).status_code == 400
    seven_filters = {"filterGroups": [{"filters": window_filter()[0]["filters"] * 7}]}
    assert post(sb, f"{V3}/contacts/search", seven_filters).status_code == 400
    two_sorts = {"sorts": ["hs_object_id", "-createdate"]}
    assert post(sb, f"{V3}/contacts/search", two_sorts).status_code == 400


def test_search_index_lag_hides_fresh_writes(sandbox_factory):
    clock = ManualClock(start=1_800_000_000.0)
    sb = sandbox_factory(
        "hubspot", clock=clock, seed={"contacts": 20, "companies": 2}, search_index_lag_ms=5000
    )
    sb.app.modify(ids=[1001])
    body = {
        "filterGroups": [
            {"filters": [{"propertyName": "hs_object_id", "operator": "EQ", "value": "1001"}]}
        ]
    }
    assert post(sb, f"{V3}/contacts/search", body).json()["total"] == 0
    clock.advance(6)
    assert post(sb, f"{V3}/contacts/search", body).json()["total"] == 1


def test_companies_search_uses_hs_lastmodifieddate(hubspot):
    sb = hubspot(seed={"contacts": 5, "companies": 30})
    body = {
        "filterGroups": [
            {"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GT", "value": "0"}]}
        ],
        "properties": ["name"],
    }
    page = post(sb, f"{DATED}/companies/search", body).json()
    assert page["total"] == len(sb.app.stores["companies"].active_ids())
    assert "hs_lastmodifieddate" in page["results"][0]["properties"]


# ------------------------------------------------------------ properties
def test_properties_endpoint_lists_every_type(hubspot):
    sb = hubspot()
    rows = get(sb, "/crm/properties/2026-03/contacts").json()["results"]
    pairs = {(p["type"], p["fieldType"]) for p in rows}
    assert {
        ("string", "text"), ("enumeration", "checkbox"), ("bool", "booleancheckbox"),
        ("number", "number"), ("date", "date"), ("datetime", "date"),
        ("phone_number", "phonenumber"), ("number", "calculation_equation"),
    } <= pairs  # fmt: skip
    by_name = {p["name"]: p for p in rows}
    assert by_name["hs_merged_object_ids"]["hidden"]
    assert by_name["cf_calc"]["calculated"]
    assert by_name["email"]["hubspotDefined"]
    assert "hubspotDefined" not in by_name["cf_text"]
    assert get(sb, "/crm/v3/properties/companies").status_code == 200


# ---------------------------------------------------------- associations
def test_association_batch_read_primary_type_paging_and_limits(hubspot):
    sb = hubspot(seed={"contacts": 20, "companies": 10}, association_page_size=1)
    body = {"inputs": [{"id": "1007"}]}  # index 6: a primary and a second company
    out = post(sb, "/crm/v4/associations/contacts/companies/batch/read", body).json()
    item = out["results"][0]
    assert [t["typeId"] for t in item["to"][0]["associationTypes"]] == [1, 279]
    after = item["paging"]["next"]["after"]
    rest = post(
        sb,
        "/crm/associations/2026-03/contacts/companies/batch/read",
        {"inputs": [{"id": "1007", "after": after}]},
    ).json()["results"][0]
    assert [t["typeId"] for t in rest["to"][0]["associationTypes"]] == [279]
    assert "paging" not in rest
    too_many = {"inputs": [{"id": str(i)} for i in range(1001)]}
    assert (
        post(sb, "/crm/v4/associations/contacts/companies/batch/read", too_many).status_code == 400
    )
    missing = post(
        sb, "/crm/v4/associations/contacts/companies/batch/read", {"inputs": [{"id": "1"}]}
    )
    assert missing.status_code == 207


# ------------------------------------------------------------ rate limits
def test_burst_limit_429_carries_policy_and_headers(sandbox_factory):
    clock = ManualClock()
    sb = sandbox_factory(
        "hubspot", clock=clock, burst_limit=2, seed={"contacts": 3, "companies": 1}
    )
    first = get(sb, f"{V3}/contacts")
    assert first.headers["X-HubSpot-RateLimit-Max"] == "2"
    assert first.headers["X-HubSpot-RateLimit-Remaining"] == "1"
    assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert int(first.headers["X-HubSpot-RateLimit-Daily-Remaining"]) > 0
    get(sb, f"{V3}/contacts")
    refused = get(sb, f"{V3}/contacts")
    assert refused.status_code == 429
    body = refused.json()
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["errorType"] == "RATE_LIMIT"
    clock.advance(10)
    assert get(sb, f"{V3}/contacts").status_code == 200


def test_search_has_its_own_per_second_limit(sandbox_factory):
    clock = ManualClock()
    sb = sandbox_factory(
        "hubspot",
        clock=clock,
        search_rate_per_second=5,
        burst_limit=0,
        seed={"contacts": 3, "companies": 1},
    )
    statuses = [post(sb, f"{V3}/contacts/search", {}).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    refused = post(sb, f"{V3}/contacts/search", {})
    assert refused.json()["message"] == "You have reached your secondly limit."
    assert get(sb, f"{V3}/contacts").status_code == 200  # the other budget is untouched
    clock.advance(1)
    assert post(sb, f"{V3}/contacts/search", {}).status_code == 200


def test_daily_limit_429(hubspot):
    sb = hubspot(seed={"contacts": 3, "companies": 1}, daily_limit=2)
    assert [get(sb, f"{V3}/contacts").status_code for _ in range(2)] == [200, 200]
    refused = get(sb, f"{V3}/contacts")
    assert refused.status_code == 429
    assert refused.json()["policyName"] == "DAILY"
    usage = get(sb, "/account-info/v3/api-usage/daily/private-apps")
    assert usage.status_code == 429  # the daily limit covers every endpoint


def test_injected_429_looks_like_the_burst_limit(hubspot):
    sb = hubspot(seed={"contacts": 3, "companies": 1}, fail_next=[429])
    refused = get(sb, f"{V3}/contacts")
    assert refused.status_code == 429
    assert refused.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert refused.headers["X-HubSpot-RateLimit-Remaining"] == "0"


# ----------------------------------------------------------------- seeds
def test_seed_is_deterministic_and_has_the_ugly_cases(hubspot):
    first = hubspot(seed={"contacts": 1000, "companies": 100, "same_timestamp": 300})
    second = hubspot(seed={"contacts": 1000, "companies": 100, "same_timestamp": 300})
    assert first.state() == second.state()
    contacts = first.state()["contacts"]
    live = [c for c in contacts.values() if not c["archived"]]
    stamps = [c["properties"]["lastmodifieddate"] for c in live]
    assert max(stamps.count(s) for s in set(stamps)) >= 290
    assert sum(c["archived"] for c in contacts.values()) == 10
    merged = [c for c in live if c["properties"].get("hs_merged_object_ids")]
    assert len(merged) == 5
    assert any(";" in c["properties"]["hs_merged_object_ids"] for c in merged)  # chained merge
    for c in merged:
        for gone in c["properties"]["hs_merged_object_ids"].split(";"):
            assert gone not in contacts
    emails = [c["properties"].get("email") for c in live]
    assert emails.count(None) >= 10
    lowered = [e.lower() for e in emails if e]
    assert len(lowered) > len(set(lowered))  # duplicates differing only in case
    companies = first.state()["companies"]
    linked = {a["companyId"] for links in first.state()["associations"].values() for a in links}
    assert set(companies) - linked  # companies without contacts
    assert any(len(links) == 0 for links in first.state()["associations"].values())
    assert any(len(links) > 1 for links in first.state()["associations"].values())


def test_same_timestamp_preset_and_unknown_params(hubspot):
    sb = hubspot()
    summary = sb.app.seed("same_timestamp", contacts=1200)
    assert summary["live_contacts"] == 1200
    stamps = {o.updated_ms for o in sb.app.stores["contacts"].objects.values()}
    assert len(stamps) == 1
    response = requests.post(
        f"{sb.url}/_sandbox/seed", json={"preset": "default", "contcts": 1}, timeout=10
    )
    assert response.status_code == 400


def test_epoch_ms_date_format_knob(hubspot):
    sb = hubspot(seed={"contacts": 3, "companies": 1}, date_value_format="epoch_ms")
    row = get(sb, f"{V3}/contacts", properties="cf_date,cf_datetime").json()["results"][1]
    assert row["properties"]["cf_date"].isdigit()
    assert row["properties"]["cf_datetime"].endswith("Z")


# -------------------------------------------------------------- controls
def test_modify_control_bumps_last_modified_for_about_one_percent(hubspot):
    sb = hubspot(seed={"contacts": 500, "companies": 10})
    response = requests.post(f"{sb.url}/_sandbox/modify", json={"fraction": 0.01}, timeout=10)
    changed = response.json()["modified"]
    assert len(changed) == 5
    state = sb.state()["contacts"]
    for cid in changed:
        assert state[cid]["properties"]["lastmodifieddate"] == response.json()["at"]
        assert state[cid]["properties"]["cf_text"].startswith("modified")


def test_archive_keeps_last_modified_and_merge_bumps_primary(hubspot):
    sb = hubspot(
        seed={"contacts": 50, "companies": 5, "merged_contacts": 0, "archived_contacts": 0}
    )
    before = sb.state()["contacts"]["1003"]["properties"]["lastmodifieddate"]
    requests.post(f"{sb.url}/_sandbox/archive", json={"ids": ["1003"]}, timeout=10)
    after = sb.state()["contacts"]["1003"]
    assert after["archived"]
    assert after["properties"]["lastmodifieddate"] == before
    out = requests.post(
        f"{sb.url}/_sandbox/merge", json={"primary": 1010, "secondary": 1011}, timeout=10
    ).json()
    assert out["hs_merged_object_ids"] == "1011"
    assert "1011" not in sb.state()["contacts"]
    assert sb.state()["contacts"]["1010"]["properties"]["lastmodifieddate"] > before


def test_associate_control_only_bumps_on_primary_change(hubspot):
    sb = hubspot(seed={"contacts": 20, "companies": 5})
    stamp = sb.state()["contacts"]["1001"]["properties"]["lastmodifieddate"]
    sb.app.associate(1001, 5000003)
    assert sb.state()["contacts"]["1001"]["properties"]["lastmodifieddate"] == stamp
    sb.app.associate(1001, 5000004, primary=True)
    contact = sb.state()["contacts"]["1001"]
    assert contact["properties"]["associatedcompanyid"] == "5000004"
    assert contact["properties"]["lastmodifieddate"] != stamp
    assert sb.state()["associations"]["1001"][0] == {"companyId": "5000004", "typeIds": [1, 279]}


def test_unknown_paths_and_versions_are_404_in_hubspot_shape(hubspot):
    sb = hubspot()
    response = get(sb, "/crm/objects/latest/contacts")
    assert response.status_code == 404
    assert response.json()["category"] == "OBJECT_NOT_FOUND"
    assert get(sb, f"{V3}/tickets").status_code == 404
