"""``target-atlassian-csm-ops``: one entry point for the operations commands.

Meltano runs them as plugin commands (``meltano invoke target-atlassian-csm:report``), with
the target's settings in environment variables (``TARGET_ATLASSIAN_CSM_*``), as it does for
the load; ``--config`` files are read too, as the target reads them. The settings are checked
by the target's own schema, so a command sees exactly what the load saw, and a secret is never
printed. Each subcommand lives in its own module, which registers its arguments and a ``run``
function returning the exit status; this module only dispatches.

Exit status: 0 done (or nothing to do), 1 a difference or failure was found (reconcile, retry
left records in the dead letters), 2 the command could not run (settings, site, ledger).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from singer_sdk.exceptions import ConfigValidationError

from target_atlassian_csm.client import CsmClient, CsmError
from target_atlassian_csm.ledger import Ledger, LedgerSiteMismatch
from target_atlassian_csm.runtime import ledger_site, site_mismatch
from target_atlassian_csm.summary import RunSummary

PROG = "target-atlassian-csm-ops"
#: The SDK's logger of settings read from environment variables.
SDK_CONFIG_LOGGER = "singer_sdk.configuration._dict_config"
Runner = Callable[[argparse.Namespace, "Context"], int]


class CommandError(RuntimeError):
    """The command cannot run; the message says what to check (exit status 2)."""


@dataclass
class Context:
    """What every command needs: the target's settings, and the ledger and site they name."""

    config: dict[str, Any]
    logger: logging.Logger
    _ledger: Ledger | None = field(default=None, repr=False)
    _client: CsmClient | None = field(default=None, repr=False)

    def ledger(self, run_id: str = "ops") -> Ledger:
        """The load's ledger (refused when it belongs to another site, or does not exist)."""
        if self._ledger is None:
            path = Path(self.config["ledger_path"])
            if not path.exists():
                msg = f"no ledger at {path}: run the load first, or set ledger_path"
                raise CommandError(msg)
            try:
                self._ledger = Ledger(
                    path, site=str(self.config["cloud_id"]), run_id=run_id, record_run=False
                )
            except LedgerSiteMismatch:
                site = str(self.config["cloud_id"])
                raise CommandError(site_mismatch(path, ledger_site(path), site)) from None
        return self._ledger

    def client(self, summary: RunSummary | None = None) -> CsmClient:
        """A client of the load's CSM site."""
        if self._client is None:
            try:
                self._client = CsmClient.from_config(self.config, summary, self.logger)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        return self._client

    def close(self) -> None:
        """Close the ledger if it was opened."""
        if self._ledger is not None:
            self._ledger.close()


#: name -> (help, register(parser) -> run). Each command's module adds itself here.
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], Runner]]] = {}


def command(
    name: str, help_text: str
) -> Callable[[Callable[[argparse.ArgumentParser], Runner]], Any]:
    """Decorator for a command module's ``register(parser) -> run`` function."""

    def add(register: Callable[[argparse.ArgumentParser], Runner]) -> Callable[..., Runner]:
        COMMANDS[name] = (help_text, register)
        return register

    return add


def _load_commands() -> None:
    """Import the command modules, which register themselves (one line per module)."""
    for name in ("reconcile", "report", "retry", "rollback"):
        importlib.import_module(f"target_atlassian_csm.ops.{name}")


def settings(config_files: Sequence[str]) -> dict[str, Any]:
    """The target's settings from files and environment variables, checked by its schema."""
    from target_atlassian_csm.target import TargetAtlassianCSM  # noqa: PLC0415

    merged: dict[str, Any] = {}
    for name in config_files:
        try:
            merged.update(json.loads(Path(name).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            msg = f"cannot read the settings file {name}: {exc}"
            raise CommandError(msg) from None
    # Meltano hands a command its settings as environment variables; the SDK turns integers,
    # booleans and arrays back into values but leaves numbers as text: read them, then check
    # (the target's validation reads a number given as text as the number it spells).
    quiet = logging.getLogger(TargetAtlassianCSM.name)
    level, quiet.level = quiet.level, logging.ERROR  # this first read is not checked yet
    try:
        read = TargetAtlassianCSM(config=merged, parse_env_config=True, validate_config=False)
    finally:
        quiet.setLevel(level)
    config = dict(read.config)
    quiet.setLevel(logging.WARNING)  # its warnings (unknown settings) shown, not its chatter
    try:
        target = TargetAtlassianCSM(config=config, validate_config=True)
    except ConfigValidationError as exc:
        msg = "settings are not valid: " + "; ".join(exc.errors)
        raise CommandError(msg) from None
    finally:
        quiet.setLevel(level)
    return dict(target.config)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run one command, return its exit status."""
    _load_commands()
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Operations on a CSM load: report, reconcile, retry dead letters, "
        "roll back a run. Settings are the target's (TARGET_ATLASSIAN_CSM_* variables, "
        "as Meltano sets them, or --config files).",
    )
    parser.add_argument(
        "--config", action="append", default=[], help="a settings file (JSON), repeatable"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, register) in sorted(COMMANDS.items()):
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=register(sub))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    # The SDK says at INFO each setting it reads from the environment (40 lines before the
    # command's own output under Meltano, which sets them all): only its warnings are shown.
    logging.getLogger(SDK_CONFIG_LOGGER).setLevel(logging.WARNING)
    logger = logging.getLogger(PROG)
    context: Context | None = None
    try:
        context = Context(settings(args.config), logger)
        return int(args.handler(args, context))
    except (CommandError, CsmError) as exc:
        logger.error("%s", exc)
        return 2
    finally:
        if context is not None:
            context.close()


def entry() -> None:
    """Console script."""
    sys.exit(main())
