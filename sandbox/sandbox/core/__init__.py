"""Building blocks shared by every API sandbox."""

from sandbox.core.adversity import Adversity, Fault
from sandbox.core.app import SandboxApp, json_response
from sandbox.core.client import SandboxClient
from sandbox.core.clock import Clock, ManualClock, SystemClock
from sandbox.core.journal import JournalEntry, RequestJournal
from sandbox.core.ratelimit import RateDecision, WindowLimiter
from sandbox.core.server import SandboxServer

__all__ = [
    "Adversity",
    "Clock",
    "Fault",
    "JournalEntry",
    "ManualClock",
    "RateDecision",
    "RequestJournal",
    "SandboxApp",
    "SandboxClient",
    "SandboxServer",
    "SystemClock",
    "WindowLimiter",
    "json_response",
]
