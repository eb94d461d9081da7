"""The target's settings (``--about`` lists them; meltano.yml declares the same)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from singer_sdk import typing as th

from target_atlassian_csm.limits import (
    CUSTOMER_PROFILE_BULK_MAX,
    ORGANIZATION_PROFILE_BULK_MAX,
    TASK_CAP_GENEROUS,
)
from target_atlassian_csm.presets import ALIASES, PRESETS

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "cloud_id",
        th.StringType,
        required=True,
        title="Cloud ID",
        description="The CSM site's cloud id (GET https://<site>.atlassian.net/_edge/tenant_info).",
    ),
    th.Property(
        "base_url",
        th.StringType,
        default="https://api.atlassian.com",
        title="API base URL",
        description="Host of the CSM REST API; requests go to {base_url}/jsm/csm/cloudid/"
        "{cloud_id}/api/v1. Must be https except on loopback (the sandbox).",
    ),
    th.Property(
        "access_token",
        th.StringType,
        secret=True,
        title="OAuth access token",
        description="OAuth 2.0 (3LO) bearer token. Either this, or user_email + api_token.",
    ),
    th.Property(
        "user_email",
        th.StringType,
        title="User email",
        description="Atlassian account email for Basic auth with api_token.",
    ),
    th.Property(
        "api_token",
        th.StringType,
        secret=True,
        title="API token",
        description="Atlassian API token for Basic auth with user_email.",
    ),
    th.Property(
        "mapping_preset",
        th.StringType,
        default="auto",
        allowed_values=[*PRESETS, *ALIASES],
        title="Mapping preset",
        description="Default stream rules: 'auto' detects this project's taps "
        "(tap-hubspot-contacts, tap-kustomer) by stream name and schema and "
        "falls back to generic rules (streams named like customers / "
        "organizations); 'none' loads only the streams in `mapping`. Explicit presets "
        "name the tap and its publisher (singer-io/tap-hubspot, meltanolabs/tap-hubspot, ...).",
    ),
    th.Property(
        "mapping",
        th.ObjectType(additional_properties=True),
        default={},
        title="Stream mapping",
        description="Per stream: {entity: customer|organization|ignore, email, name, "
        "display_name, source_id, organization_name, organization_id, "
        "organization_stream, details: {<CSM field>: <field path>}, "
        "details_auto, details_from, strip_type_suffixes, exclude_fields, "
        "skip_when}. Paths are dotted (attributes.emails[0].email) or "
        "templates ({firstname} {lastname}); lists mean first non-empty. "
        "Overrides the preset key by key. See docs/target-atlassian-csm.md.",
    ),
    th.Property(
        "create_missing_organizations",
        th.BooleanType,
        default=True,
        title="Create missing organizations",
        description="Create an organization (by name) when a customer references one "
        "that does not exist in CSM.",
    ),
    th.Property(
        "invalid_detail_policy",
        th.StringType,
        default="reject_record",
        allowed_values=["reject_record", "drop_field"],
        title="Invalid detail policy",
        description="A value that does not fit its CSM field (unknown option, bad date): "
        "dead-letter the whole record, or load it without that field and "
        "write a warning.",
    ),
    th.Property(
        "create_missing_fields",
        th.BooleanType,
        default=False,
        title="Create missing detail fields",
        description="Before loading a stream, create the CSM detail fields its data needs, "
        "typed from the source's own field metadata (HubSpot contact_properties / "
        "company_properties, Kustomer custom_attribute_metadata, Zendesk user_fields / "
        "organization_fields), else from the stream's Singer schema. Existing fields of the "
        "same name are reused. CSM's limits (50 fields per entity, 50 options per select) "
        "are checked before anything is created.",
    ),
    th.Property(
        "field_definitions",
        th.ArrayType(th.StringType),
        default=[],
        title="Field definition files",
        description="With create_missing_fields: JSON files of the source's field definitions "
        "for taps that do not send them (singer-io tap-zendesk): Zendesk's answers to GET "
        '/api/v2/user_fields.json ({"user_fields": [...]}, for users) and GET '
        '/api/v2/organization_fields.json ({"organization_fields": [...]}, for '
        "organizations), saved as they are; list every page. Read before the input: "
        "dropdowns become SELECT and multiselects MULTISELECT fields of the option names, "
        "their tag values translated, and records are not held waiting for metadata.",
    ),
    th.Property(
        "field_include",
        th.ArrayType(th.StringType),
        default=[],
        title="Fields to create (only these)",
        description="With create_missing_fields: when set, only these source fields get "
        "CSM fields, including ones left out by default (hidden, calculated, lookups). "
        "Entries: the source key (hs_lead_status, tierStr, plan_tier), its label, or "
        "'customer:<key>' / 'organization:<key>'.",
    ),
    th.Property(
        "field_exclude",
        th.ArrayType(th.StringType),
        default=[],
        title="Fields not to create",
        description="With create_missing_fields: source fields never given a CSM field "
        "(same entries as field_include; exclusion wins).",
    ),
    th.Property(
        "field_rename",
        th.ObjectType(additional_properties=True),
        default={},
        title="Field names",
        description="With create_missing_fields: {<source key>: <CSM field name>} (key "
        "optionally 'customer:<key>' / 'organization:<key>'); default name: the source's "
        "label.",
    ),
    th.Property(
        "field_types",
        th.ObjectType(additional_properties=True),
        default={},
        title="Field types",
        description="With create_missing_fields: {<source key>: <CSM type>} overriding the "
        "type mapping (TEXT, SELECT, MULTISELECT, DATE, EMAIL, PHONE, URL, NUMBER, BOOLEAN), "
        "e.g. TEXT for a select with more than 50 options.",
    ),
    th.Property(
        "boolean_field_type",
        th.StringType,
        default="SELECT",
        allowed_values=["SELECT", "BOOLEAN"],
        title="Boolean field type",
        description="CSM type for source booleans (Zendesk checkbox, HubSpot bool, Kustomer "
        "Bool): SELECT with options true/false (works on every site), or BOOLEAN where the "
        "site supports it.",
    ),
    th.Property(
        "field_limit_policy",
        th.StringType,
        default="fail",
        allowed_values=["fail", "skip"],
        title="Field limit policy",
        description="When the planned fields exceed CSM's limits: 'fail' stops before "
        "creating anything and lists what does not fit; 'skip' creates what fits and leaves "
        "the rest out (their values are not loaded).",
    ),
    th.Property(
        "field_metadata_buffer_records",
        th.IntegerType(minimum=0),
        default=100000,
        title="Records held for field metadata",
        description="With create_missing_fields: records held in memory while their "
        "source's metadata stream has not arrived yet (taps send it after the records). "
        "Past this, the run stops before creating anything.",
    ),
    th.Property(
        "customer_batch_size",
        th.IntegerType(minimum=1, maximum=CUSTOMER_PROFILE_BULK_MAX),
        default=CUSTOMER_PROFILE_BULK_MAX,
        title="Customer batch size",
        description=f"Customers per bulk request (1-{CUSTOMER_PROFILE_BULK_MAX}, the "
        "profile bulk limit).",
    ),
    th.Property(
        "organization_batch_size",
        th.IntegerType(minimum=1, maximum=ORGANIZATION_PROFILE_BULK_MAX),
        default=ORGANIZATION_PROFILE_BULK_MAX,
        title="Organization batch size",
        description=f"Organizations per bulk request (1-{ORGANIZATION_PROFILE_BULK_MAX}).",
    ),
    th.Property(
        "max_tasks_in_flight",
        th.IntegerType(minimum=1, maximum=TASK_CAP_GENEROUS),
        default=5,
        title="Max tasks in flight",
        description="Bulk tasks kept running at once (CSM allows 5 or 10 unfinished "
        f"tasks per site; 1-{TASK_CAP_GENEROUS}).",
    ),
    th.Property(
        "max_requests_per_second",
        th.NumberType(minimum=0),
        default=10,
        title="Max requests per second",
        description="Client-side pacing of all requests; 429s are honoured on top.",
    ),
    th.Property(
        "batch_max_wait_seconds",
        th.NumberType(minimum=0),
        default=2,
        title="Batch max wait (s)",
        description="Send a partly filled batch once its oldest record waited this long.",
    ),
    th.Property(
        "state_every_records",
        th.IntegerType(minimum=1),
        default=1000,
        title="STATE every N records",
        description="Emit the tap's STATE (when confirmed) after this many settled records...",
    ),
    th.Property(
        "state_every_seconds",
        th.NumberType(minimum=0),
        default=30,
        title="STATE every T seconds",
        description="...or after this many seconds, whichever comes first.",
    ),
    th.Property(
        "ledger_path",
        th.StringType,
        default=".meltano/csm/ledger.sqlite",
        title="Ledger path",
        description="SQLite ledger (source id <-> CSM id, payload hashes, tasks): makes "
        "resyncs skip unchanged records and restarts resume in-flight tasks. "
        "One ledger per CSM site.",
    ),
    th.Property(
        "dead_letter_path",
        th.StringType,
        default=".meltano/csm/dead-letters.jsonl",
        title="Dead-letter path",
        description="JSON Lines file of records that did not land, with the reason: one "
        "current entry per record. Holds personal data: the default is under .meltano/, which "
        "the .gitignore of `meltano init` covers.",
    ),
    th.Property(
        "summary_path",
        th.StringType,
        default=".meltano/csm/summary.json",
        title="Summary path",
        description="JSON file with the run summary.",
    ),
    th.Property(
        "dry_run",
        th.BooleanType,
        default=False,
        title="Dry run",
        description="Read the site's fields, map and validate everything, print the "
        "plan (fields to create, what does not fit, records to create / update / leave "
        "unchanged, validation failures); create no field, send no bulk request and write "
        "no ledger.",
    ),
    th.Property(
        "max_failure_rate",
        th.NumberType(minimum=0, maximum=1),
        default=0.05,
        title="Max failure rate",
        description="Exit non-zero when an entity's failed records exceed this share of "
        "its records attempted (records that can never load as they are, such as contacts "
        "without email, are reported but not counted).",
    ),
    th.Property(
        "failure_rate_min_records",
        th.IntegerType(minimum=0),
        default=20,
        title="Failure rate minimum records",
        description="max_failure_rate applies to an entity once this many of its records "
        "were attempted: a few failures of a small incremental run are reported, not fatal.",
    ),
    th.Property(
        "empty_field_policy",
        th.StringType,
        default="clear",
        allowed_values=["clear", "keep"],
        title="Empty field policy",
        description="A mapped field the source leaves empty where CSM holds a value this "
        "target loaded earlier: 'clear' it in CSM (details bulk DELETE), or 'keep' CSM's value.",
    ),
    th.Property(
        "delete_policy",
        th.StringType,
        default="ignore",
        allowed_values=["ignore", "flag", "delete"],
        title="Delete policy",
        description="Records the source marks deleted (HubSpot archived or merged away, "
        "Kustomer deleted, Zendesk deleted users and organizations; a rule's `deleted_when` "
        "says which field marks it): 'ignore' them, 'flag' the CSM record "
        "(delete_flag_field = delete_flag_value), or 'delete' the CSM record, only when this "
        "target created it, at most max_deletes_per_run per run.",
    ),
    th.Property(
        "delete_flag_field",
        th.StringType,
        default="Source status",
        title="Delete flag field",
        description="With delete_policy flag: the CSM detail field set on deleted records "
        "(it must exist: TEXT, or SELECT with the value as an option).",
    ),
    th.Property(
        "delete_flag_value",
        th.StringType,
        default="deleted",
        title="Delete flag value",
        description="With delete_policy flag: the value written to delete_flag_field.",
    ),
    th.Property(
        "max_deletes_per_run",
        th.IntegerType(minimum=0),
        default=100,
        title="Max deletes per run",
        description="With delete_policy delete: records deleted in CSM per run at most; the "
        "rest are dead-lettered (retry them, or raise the bound), so a mistaken mapping cannot "
        "empty the site.",
    ),
    th.Property(
        "keep_before_images",
        th.BooleanType,
        default=False,
        title="Keep before-images",
        description="Before writing a record, read what CSM holds (profile fetch, 25 per "
        "request, after finding its id) and keep it in the ledger, so `rollback` can restore "
        "it even when CSM held it before this target or an agent changed it since. Costs "
        "look-ups and reads on every write. Without it, rollback restores what this target "
        "last loaded.",
    ),
    th.Property(
        "progress_interval_seconds",
        th.NumberType(minimum=0),
        default=15,
        title="Progress interval (s)",
        description="Log a progress line this often on long loads (0: never).",
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=0, maximum=100),
        default=8,
        title="Max retries",
        description="Retries of one request on connection errors, 429 and 5xx.",
    ),
    th.Property(
        "request_timeout_seconds",
        th.NumberType(minimum=1),
        default=60,
        title="Request timeout (s)",
        description="Timeout of one HTTP request.",
    ),
    th.Property(
        "task_timeout_seconds",
        th.NumberType(minimum=1),
        default=2400,
        title="Task timeout (s)",
        description="A task still running after this long is treated as failed and its "
        "records resubmitted (CSM itself times tasks out after 30 minutes).",
    ),
    th.Property(
        "max_task_attempts",
        th.IntegerType(minimum=1, maximum=20),
        default=3,
        title="Max task attempts",
        description="Times one record is resubmitted alone after tasks ending FAILED "
        "without detail, before it is dead-lettered.",
    ),
    th.Property(
        "shutdown_grace_seconds",
        th.NumberType(minimum=0),
        default=60,
        title="Shutdown grace (s)",
        description="On SIGTERM/SIGINT, how long to wait for tasks in flight before "
        "exiting (they are recovered from the ledger by the next run).",
    ),
).to_dict()

#: Settings whose values are never printed, not even in an error about them.
SECRET_SETTINGS = tuple(
    name for name, prop in CONFIG_SCHEMA["properties"].items() if prop.get("secret")
)


def numbers_from_text(config: dict[str, Any], schema: Mapping[str, Any]) -> None:
    """Read a number setting given as text as the number it spells (in place).

    The plugin definitions declare number settings ``kind: string``: Meltano 4.4.1 cannot
    pass a ``kind: decimal`` setting from an environment variable, so it hands ``"9.5"`` over
    as text. Text that spells no finite number is left as it is, for validation to refuse
    with the setting's name.
    """
    for name, prop in schema.get("properties", {}).items():
        value = config.get(name)
        types = prop.get("type")
        if not isinstance(value, str) or "number" not in (
            types if isinstance(types, list) else [types]
        ):
            continue
        try:
            number = float(value.strip())
        except ValueError:
            continue
        if math.isfinite(number):
            config[name] = number
