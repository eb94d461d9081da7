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
    # burst rate limit over all API requests of the site
    "rate_limit_requests": 100,
    "rate_limit_window_seconds": 10.0,
}

DIALECTS = ("reference", "guide")
