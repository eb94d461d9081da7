"""Atlassian Customer Service Management (CSM) sandbox: the API the target loads into.

Built to ``docs/csm-api-choices.md`` (the readings the project chose) over
``../shared/reference/csm-api.md``. Modules: :mod:`~sandbox.csm.app` (routes, auth, headers,
idempotency), :mod:`~sandbox.csm.store` (fields, customers, organizations),
:mod:`~sandbox.csm.validate` (structural 400s and value checks),
:mod:`~sandbox.csm.operations` (per-item effects and failures), :mod:`~sandbox.csm.tasks`
(task life cycle, order and retention on the app's clock), :mod:`~sandbox.csm.reads` (fetch
bodies and Jira's user search), :mod:`~sandbox.csm.ratelimit` (burst limit and headers),
:mod:`~sandbox.csm.idempotency` (keys and their retention), :mod:`~sandbox.csm.seed`
(presets), :mod:`~sandbox.csm.knobs` (knobs, defaults and readings) and
:mod:`~sandbox.csm.calls` (the HTTP calls tests make).
"""

from sandbox.csm.app import CsmApp, create_app

__all__ = ["CsmApp", "create_app"]
