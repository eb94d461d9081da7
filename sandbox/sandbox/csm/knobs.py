"""The CSM sandbox's own knobs and their defaults.

They are merged over the core's adversity knobs (latency, injected 429/5xx, drops,
``random_seed``). Each default is the reading ``docs/csm-api-choices.md`` chose; the
alternative readings are one knob change away.
"""

from __future__ import annotations

from typing import Any

CSM_KNOBS: dict[str, Any] = {
    # site and credentials
    "cloud_id": "sandbox",
    "oauth_token": "sandbox-token",
    "basic_email": "sandbox@example.com",
    "basic_api_token": "sandbox-api-token",
    # headers and answers
    "experimental_header_required": True,
    "dialect": "reference",  # or "guide"
    "failure_entity_ids": True,
    "boolean_type_supported": False,
    # task slots and life cycle
    "task_cap": 5,
    "task_timeout_seconds": 1800.0,
    "queue_delay_seconds": 0.0,
    "processing_slots": 0,  # 0 means: as many as task_cap
    "task_overhead_seconds": 0.05,
    "seconds_per_item": 0.002,
    "fail_task_rate": 0.0,
    "fail_task_applies": False,
    "task_order": "random",  # or "fifo"; random draws from ``random_seed`` (reference §3)
    # retention on the sandbox clock
    "idempotency_retention_seconds": 86400.0,  # undocumented (§6); 24 h
    "task_retention_seconds": 259200.0,  # task results are kept 3 days (§3)
    # readings of undocumented request semantics
    "profile_empty_values": "ignored",  # or "clears", "rejected" (§9 q3)
    "association_mode": "additive",  # or "replace" (§9 q2)
    "profile_associations_ignored": False,  # FIELD S18: associations silently not made
    "details_bulk_by_email": False,  # details bulk by email / organizationName (§2.3, §2.6)
    "account_other_ids_status": 404,  # or 400: customer/account/{id} with a non-qm: id
    # reads
    "profile_fetch_by_email": False,  # customer/profile/fetch also takes {"emails": [...]}
    "user_search_match": "prefix",  # Jira's documented matching; or "exact" (email only)
    "user_search_delay_seconds": 0.0,  # FIELD S18: new customers findable minutes later
    # burst rate limit over all API requests of the site
    "rate_limit_requests": 100,
    "rate_limit_window_seconds": 10.0,
}

DIALECTS = ("reference", "guide")

#: Knobs whose value must be one of a few readings; others are refused like unknown knobs.
CHOICES: dict[str, tuple[Any, ...]] = {
    "dialect": DIALECTS,
    "task_order": ("random", "fifo"),
    "profile_empty_values": ("ignored", "clears", "rejected"),
    "association_mode": ("additive", "replace"),
    "user_search_match": ("prefix", "exact"),
    "account_other_ids_status": (404, 400),
}
