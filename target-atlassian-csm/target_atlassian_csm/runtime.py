"""Everything one load needs, built from the settings before the first message is read.

The run's records (summary, plan, dead letters, STATE barrier) are plain objects made first;
then the pre-flight checks what would otherwise fail at the first record, minutes into a
tap's run: the settings' bounds, the ledger's site, the credentials and the site's
reachability (one cheap read of the detail fields, which the mapping needs anyway). A
problem is one line saying what to check (:class:`PreflightError`), never a traceback.

``--about`` and the SDK's CLI checks never build a runtime, so they touch neither the
network nor the disk.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sqlite3
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from target_atlassian_csm.barrier import StateBarrier
from target_atlassian_csm.client import CsmClient, CsmError
from target_atlassian_csm.deadletter import DeadLetters
from target_atlassian_csm.fields import FieldCatalog
from target_atlassian_csm.ledger import CONFIRMED, Ledger, LedgerSiteMismatch
from target_atlassian_csm.limits import (
    CUSTOMER_PROFILE_BULK_MAX,
    ORGANIZATION_PROFILE_BULK_MAX,
    TASK_CAP_GENEROUS,
)
from target_atlassian_csm.operations import CUSTOMER, ORGANIZATION
from target_atlassian_csm.outcomes import RunRecords
from target_atlassian_csm.pipeline import Pipeline, PipelineSettings
from target_atlassian_csm.plan import RunPlan
from target_atlassian_csm.summary import RunSummary


class PreflightError(RuntimeError):
    """The run cannot start; the message says what to check (no traceback is shown)."""


def ledger_site(path: str | Path) -> str | None:
    """The cloud id a ledger file is bound to (None: no file, or not bound yet)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'site'").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return None if row is None else str(row[0]).rsplit("|", 1)[-1]


def site_mismatch(path: str | Path, bound: str | None, site: str) -> str:
    """The one line said when a ledger belongs to another site than ``cloud_id`` names."""
    return (
        f"The ledger {path} belongs to CSM site (cloud id) {bound!r}, but cloud_id is {site!r}: "
        f"if cloud_id is mistyped, correct it (this ledger's site is {bound!r}); if {site!r} "
        "is another site, set ledger_path to a file of its own."
    )


def _unbind_site(path: Path) -> None:
    """Forget the site a ledger was bound to by a run whose site never answered."""
    with contextlib.suppress(sqlite3.Error):
        db = sqlite3.connect(path)
        try:
            db.execute("DELETE FROM meta WHERE key = 'site'")
            db.commit()
        finally:
            db.close()


def _bounded(config: Mapping[str, Any], name: str, low: int, high: int) -> int:
    value = int(config[name])
    if not low <= value <= high:
        msg = f"{name} must be between {low} and {high} (CSM's limit), got {value}"
        raise PreflightError(msg)
    return value


class LoadRuntime:
    """The objects of one run, wired together."""

    def __init__(
        self, config: Mapping[str, Any], barrier: StateBarrier, logger: logging.Logger
    ) -> None:
        self.config = config
        self.logger = logger
        self.dry_run = bool(config.get("dry_run"))
        self.run_id = uuid.uuid4().hex
        self.summary = RunSummary()
        self.summary.dry_run = self.dry_run
        self.summary.run_id = self.run_id
        self.plan = RunPlan()
        self.dead_letters = DeadLetters(config["dead_letter_path"], enabled=not self.dry_run)
        self.records = RunRecords(
            summary=self.summary, plan=self.plan, dead_letters=self.dead_letters, barrier=barrier
        )
        self.barrier = barrier
        settings = PipelineSettings(
            batch_size={
                CUSTOMER: _bounded(config, "customer_batch_size", 1, CUSTOMER_PROFILE_BULK_MAX),
                ORGANIZATION: _bounded(
                    config, "organization_batch_size", 1, ORGANIZATION_PROFILE_BULK_MAX
                ),
            },
            max_tasks_in_flight=_bounded(config, "max_tasks_in_flight", 1, TASK_CAP_GENEROUS),
            batch_max_wait_seconds=float(config["batch_max_wait_seconds"]),
            create_missing_organizations=bool(config["create_missing_organizations"]),
            clear_empty_fields=config.get("empty_field_policy", "clear") == "clear",
            max_task_attempts=int(config["max_task_attempts"]),
            max_deletes_per_run=int(config.get("max_deletes_per_run", 100)),
            probe_new_records=config.get("delete_policy") == "delete",
            keep_before_images=bool(config.get("keep_before_images")),
            task_timeout_seconds=float(config["task_timeout_seconds"]),
            dry_run=self.dry_run,
        )
        try:
            self.client = CsmClient.from_config(config, self.summary, logger)
        except ValueError as exc:
            raise PreflightError(str(exc)) from None
        ledger_path = Path(config["ledger_path"])
        site = str(config["cloud_id"])
        bound = ledger_site(ledger_path)
        #: The ledger is bound to ``site`` by this run: undone if the site never answers.
        self._binds_site = bound is None and not self.dry_run
        self._site_answered = False
        try:
            if self.dry_run:
                # Read what earlier runs recorded, write nothing: work on a copy in memory.
                self.ledger = Ledger.in_memory_copy(ledger_path, site=site, run_id=self.run_id)
            else:
                self.ledger = Ledger(ledger_path, site=site, run_id=self.run_id)
        except LedgerSiteMismatch:
            raise PreflightError(site_mismatch(ledger_path, bound, site)) from None
        self.pipeline = Pipeline(
            client=self.client,
            ledger=self.ledger,
            records=self.records,
            settings=settings,
            logger=logger,
        )
        self._catalogs: dict[str, FieldCatalog] = {}
        self._catalog_lock = threading.Lock()
        self._closed = False

    def preflight(self) -> None:
        """Check the site before reading input: credentials, cloud id, reachability."""
        try:
            for entity in (CUSTOMER, ORGANIZATION):
                # Two quick retries: a site that does not answer is said in seconds.
                self._catalogs[entity] = self._read_catalog(entity, retries=2)
        except CsmError as exc:
            hint = (
                ""
                if "credentials" in str(exc)
                else f" Check base_url ({self.client.base_url}) and cloud_id "
                f"({self.config['cloud_id']!r})."
            )
            msg = f"CSM pre-flight failed: {exc}{hint}"
            raise PreflightError(msg) from None
        self._site_answered = True
        self.pipeline.start()

    def _read_catalog(self, entity: str, retries: int | None = None) -> FieldCatalog:
        catalog = FieldCatalog.from_api(entity, self.client.detail_fields(entity, retries=retries))
        self.logger.info(
            "CSM site has %d %s detail fields: %s",
            len(catalog),
            entity,
            ", ".join(catalog.names()) or "(none)",
        )
        return catalog

    def catalog(self, entity: str) -> FieldCatalog:
        """The site's detail fields for ``entity``, read once per run."""
        with self._catalog_lock:
            if entity not in self._catalogs:
                self._catalogs[entity] = self._read_catalog(entity)
            return self._catalogs[entity]

    def refresh_catalog(self, entity: str) -> FieldCatalog:
        """Read the site's fields of ``entity`` again (after creating some)."""
        with self._catalog_lock:
            self._catalogs.pop(entity, None)
        return self.catalog(entity)

    def finish(self) -> None:
        """End of input: wait for every record to settle."""
        self.pipeline.finish()

    def _stale(self, entry: dict[str, Any]) -> bool:
        """A dead-letter entry that a later ending of its record made obsolete.

        What this run saw decides (:meth:`RunRecords.stale`: any later ending of the record);
        for a record this run did not see, an error is stale when the ledger says CSM
        confirmed the record after the entry was written (a run that ended before it could
        compact the file).
        """
        said = self.records.stale(entry)
        if said is not None:
            return said
        return (entry.get("severity") or "error") == "error" and self._landed(entry)

    def _landed(self, entry: dict[str, Any]) -> bool:
        """A dead-lettered record that has been confirmed since (by this run or a later one)."""
        entity, identity = entry.get("entity"), entry.get("identity")
        if entity not in (CUSTOMER, ORGANIZATION) or not identity:
            return False
        row = self.ledger.get(str(entity), str(identity).casefold())
        if row is None or row.status != CONFIRMED or row.updated_at is None:
            return False
        try:
            at = dt.datetime.fromisoformat(str(entry.get("at"))).timestamp()
        except ValueError:
            return False
        return row.updated_at >= at

    def abandon(self) -> None:
        """The run stops before or during the load for an expected reason: close quietly."""
        if self._closed:
            return
        self._closed = True
        self.pipeline.stop(0)
        self.dead_letters.close()
        self.ledger.close()
        if self._binds_site and not self._site_answered:
            # The ledger is bound to a site only once the site answered: a mistyped cloud_id
            # on a new ledger must not tie it to that id.
            _unbind_site(Path(self.config["ledger_path"]))

    def close(self, *, write_summary: bool = True) -> dict[str, Any]:
        """Stop the clock, report, close files; return the summary."""
        if self._closed:
            return self.summary.to_dict()
        self._closed = True
        self.summary.warnings = self.dead_letters.warnings
        self.summary.state_messages = self.barrier.emitted
        self.summary.finish()
        data = self.summary.to_dict()
        for line in self.summary.render():
            self.logger.info(line)
        if not self.dry_run:
            self.ledger.finish_run(data)
            if write_summary:
                self.summary.write(self.config["summary_path"])
                self.logger.info("Summary written to %s", self.config["summary_path"])
        if self.dead_letters.errors or self.dead_letters.warnings:
            where = "(dry run: not written)" if self.dry_run else str(self.dead_letters.path)
            self.logger.warning(
                "%d records dead-lettered, %d warnings: %s",
                self.dead_letters.errors,
                self.dead_letters.warnings,
                where,
            )
        self.dead_letters.compact(self._stale)
        self.dead_letters.close()
        self.ledger.close()
        return data
