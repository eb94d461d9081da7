"""Everything one load needs, built from the settings: client, ledger, pipeline, catalogs.

Built lazily on the first record or STATE, so ``--about`` and the SDK's CLI checks never
touch the network or the disk.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from target_atlassian_csm.barrier import StateBarrier
from target_atlassian_csm.client import CsmClient
from target_atlassian_csm.deadletter import DeadLetters
from target_atlassian_csm.fields import FieldCatalog
from target_atlassian_csm.ledger import Ledger
from target_atlassian_csm.limits import (
    CUSTOMER_PROFILE_BULK_MAX,
    ORGANIZATION_PROFILE_BULK_MAX,
    TASK_CAP_GENEROUS,
)
from target_atlassian_csm.operations import CUSTOMER, ORGANIZATION
from target_atlassian_csm.pipeline import Pipeline, PipelineSettings
from target_atlassian_csm.plan import RunPlan
from target_atlassian_csm.summary import RunSummary


def _bounded(config: Mapping[str, Any], name: str, low: int, high: int) -> int:
    value = int(config[name])
    if not low <= value <= high:
        msg = f"{name} must be between {low} and {high} (CSM's limit), got {value}"
        raise ValueError(msg)
    return value


class LoadRuntime:
    """The objects of one run, wired together."""

    def __init__(
        self, config: Mapping[str, Any], barrier: StateBarrier, logger: logging.Logger
    ) -> None:
        self.config = config
        self.logger = logger
        self.barrier = barrier
        self.dry_run = bool(config.get("dry_run"))
        self.run_id = uuid.uuid4().hex
        self.summary = RunSummary()
        self.summary.dry_run = self.dry_run
        self.plan = RunPlan()
        self.client = CsmClient(
            base_url=config["base_url"],
            cloud_id=config["cloud_id"],
            access_token=config.get("access_token"),
            user_email=config.get("user_email"),
            api_token=config.get("api_token"),
            max_requests_per_second=float(config["max_requests_per_second"]),
            timeout=float(config["request_timeout_seconds"]),
            max_retries=int(config["max_retries"]),
            summary=self.summary,
            logger=logger,
        )
        site = f"{self.client.base_url}|{config['cloud_id']}"
        ledger_path = Path(config["ledger_path"])
        if self.dry_run:
            # Read what earlier runs recorded, write nothing: work on a copy in memory.
            self.ledger = Ledger.in_memory_copy(ledger_path, site=site, run_id=self.run_id)
        else:
            self.ledger = Ledger(ledger_path, site=site, run_id=self.run_id)
        self.dead_letters = DeadLetters(config["dead_letter_path"], enabled=not self.dry_run)
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
            max_task_attempts=int(config["max_task_attempts"]),
            task_timeout_seconds=float(config["task_timeout_seconds"]),
            dry_run=self.dry_run,
        )
        self.pipeline = Pipeline(
            client=self.client,
            ledger=self.ledger,
            dead_letters=self.dead_letters,
            summary=self.summary,
            barrier=barrier,
            settings=settings,
            logger=logger,
        )
        self._catalogs: dict[str, FieldCatalog] = {}
        self._catalog_lock = threading.Lock()
        self.pipeline.start()

    def catalog(self, entity: str) -> FieldCatalog:
        """The site's detail fields for ``entity``, read once per run."""
        with self._catalog_lock:
            if entity not in self._catalogs:
                catalog = FieldCatalog.from_api(entity, self.client.detail_fields(entity))
                self.logger.info(
                    "CSM site has %d %s detail fields: %s",
                    len(catalog),
                    entity,
                    ", ".join(catalog.names()) or "(none)",
                )
                self._catalogs[entity] = catalog
            return self._catalogs[entity]

    def refresh_catalog(self, entity: str) -> FieldCatalog:
        """Read the site's fields of ``entity`` again (after creating some)."""
        with self._catalog_lock:
            self._catalogs.pop(entity, None)
        return self.catalog(entity)

    def finish(self) -> None:
        """End of input: wait for every record to settle."""
        self.pipeline.finish()

    def close(self, *, write_summary: bool = True) -> dict[str, Any]:
        """Stop the clock, report, close files; return the summary."""
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
        self.dead_letters.close()
        self.ledger.close()
        return data
