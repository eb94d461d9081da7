"""Failures the tap expects, and how the command line shows them: one line, exit 1.

A run that stops on purpose (credentials refused, a daily limit spent, a server answering in a
way that would lose or repeat records) already says what happened and what to check, so a
traceback adds only noise, and in Meltano's log it buries the one line that matters. Those
failures derive from :class:`StopRun`; the command below prints their message as one line and
exits 1. Anything else is a bug and keeps the SDK's traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError
from singer_sdk.plugin_base import SingerCommand


class StopRun(FatalAPIError):
    """A failure whose message says all the user needs (no traceback is printed)."""


class ServerMisbehaved(StopRun):
    """HubSpot answered in a way that, followed, would loop, skip or repeat records."""


class RepeatedCursor(ServerMisbehaved):
    """A listing handed out a paging cursor it had already handed out."""


class UnplaceableRecord(ServerMisbehaved):
    """A search result the keyset paging cannot place (its ``hs_object_id`` is no number)."""


class OneLineFailures(SingerCommand):
    """The SDK's command, printing expected failures as one line (module docstring)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command; a :class:`StopRun` or a config error ends it with exit code 1."""
        try:
            return super().main(*args, **kwargs)
        except ConfigValidationError as exc:  # raised outside the SDK's own handler (--test)
            for error in exc.errors or [str(exc)]:
                self.logger.error("Config validation error: %s", error)
        except StopRun as exc:
            self.logger.error("%s", exc)
        sys.exit(1)


def one_line_failures(command: click.Command) -> click.Command:
    """Give the SDK's command this module's handling of expected failures."""
    if isinstance(command, SingerCommand):
        command.__class__ = OneLineFailures
    return command
