"""Shared test configuration. Sandbox fixtures come from the connector-sandbox pytest plugin.

Hypothesis runs without its per-example deadline: the suite runs on a shared, loaded machine,
where one example taking 300 ms instead of 15 ms says nothing about the code. What a test
must bound in time, it bounds itself (e.g. a run that must end within a bound).
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "loaded-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("loaded-machine")
