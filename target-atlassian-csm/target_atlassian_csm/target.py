"""target-atlassian-csm: the Singer target class.

The SDK reads the messages and routes records to sinks; this class builds the run before the
first message (settings checked, site reached: :mod:`.runtime`), decides each stream's rule
(preset or ``mapping`` setting), owns the STATE barrier (the tap's STATE goes out only once
every record before it has ended), and ends the run: waits for the pipeline, prints the
summary, and exits non-zero when the run did not do its job (see :meth:`_verdict`).

Expected problems (a setting, the site, the credentials, a field plan that cannot be carried
out) end the run in one line naming what to check, with exit status 2 and no traceback.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import sys
import threading
from decimal import Decimal
from types import FrameType
from typing import IO, Any

from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import TARGET_VALIDATE_RECORDS_CONFIG
from singer_sdk.plugin_base import PluginBase
from singer_sdk.target_base import Target

from target_atlassian_csm.barrier import StateBarrier
from target_atlassian_csm.client import FatalApiError
from target_atlassian_csm.definition_files import read_definition_files
from target_atlassian_csm.mapping import IGNORE, StreamRule
from target_atlassian_csm.presets import preset_named
from target_atlassian_csm.progress import ProgressReporter
from target_atlassian_csm.provisioning import (
    Provisioner,
    ProvisioningError,
    ProvisioningSettings,
)
from target_atlassian_csm.reader import CountingReader, truncate
from target_atlassian_csm.runtime import LoadRuntime, PreflightError
from target_atlassian_csm.settings import CONFIG_SCHEMA, SECRET_SETTINGS, numbers_from_text
from target_atlassian_csm.sinks import ConfigurationError, CsmSink, IgnoredSink, MetadataSink

#: Errors that end a run in one line (exit status 2).
EXPECTED = (PreflightError, ConfigurationError, ProvisioningError, FatalApiError)
#: The prefix of the target's settings in environment variables (Meltano's, and the SDK's).
ENV_PREFIX = "TARGET_ATLASSIAN_CSM_"


class TargetAtlassianCSM(Target):
    """Loads Singer streams into Atlassian CSM organizations and customers."""

    name = "target-atlassian-csm"
    package_name = "csm-connectors-target-atlassian-csm"  # its version, for --about and logs
    config_jsonschema = CONFIG_SCHEMA
    default_sink_class = CsmSink
    message_reader_class = CountingReader

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._runtime: LoadRuntime | None = None
        self._rules: dict[str, StreamRule] = {}
        self._schemas: dict[str, dict[str, Any]] = {}
        self._stdout_lock = threading.Lock()
        self._mapped_streams: set[str] = set()
        self._unmapped_streams: set[str] = set()  # ignored for want of a rule (not by choice)
        self._progress: ProgressReporter | None = None
        self.provisioner: Provisioner | None = None
        self.plan_lines: list[str] = []
        super().__init__(*args, **kwargs)
        self._warn_unknown_settings()
        self._preset = preset_named(self.config.get("mapping_preset", "auto"), self.logger.warning)
        provisioning = ProvisioningSettings.from_config(self.config)
        if provisioning.enabled:
            self.provisioner = Provisioner(provisioning, lambda: self.runtime, self.logger)
            # Saved definitions stand for metadata streams the tap does not send: read them
            # before any message, so the records they describe are never held.
            for item in read_definition_files(
                self.config.get("field_definitions") or (), self.logger
            ):
                self.provisioner.preload(item.stream, item.kind, item.records)
        elif self.config.get("field_definitions"):
            self.logger.warning(
                "field_definitions is only read with create_missing_fields: true (ignored)"
            )
        dry_run = bool(self.config.get("dry_run"))
        self.barrier = StateBarrier(
            self._write_state_message,
            every_records=int(self.config.get("state_every_records", 1000)),
            every_seconds=float(self.config.get("state_every_seconds", 30)),
            # A dry run passes no STATE on: Meltano would store it and the real run after it
            # would skip what the dry run only planned. Until a stream maps to CSM, none
            # goes out either: a run that loads nothing must not move the bookmark.
            silent=dry_run,
            held=True,
        )
        if isinstance(self.message_reader, CountingReader):
            self.message_reader.on_malformed = self._malformed_line

    # ------------------------------------------------------------------ settings
    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        """Only the SDK settings this target honours (stream maps, flattening, validation).

        ``load_method``, ``batch_size_rows`` and ``add_record_metadata`` are left out: the
        load is always an upsert, batches follow CSM's limits, and CSM has no place for the
        SDK's metadata columns.
        """
        PluginBase.append_builtin_config.__func__(cls, config_jsonschema)  # type: ignore[attr-defined]
        for name, prop in TARGET_VALIDATE_RECORDS_CONFIG["properties"].items():
            config_jsonschema["properties"].setdefault(name, prop)

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """The SDK's validation, with secret values never repeated in a message."""
        numbers_from_text(self._config, self.config_jsonschema)
        try:
            return super()._validate_config(raise_errors=raise_errors)
        except ConfigValidationError as exc:
            errors = [self._hide_secrets(e) for e in exc.errors]
            raise ConfigValidationError(str(exc), errors=errors, schema=exc.schema) from None

    def _hide_secrets(self, message: str) -> str:
        for name in SECRET_SETTINGS:
            value = self._config.get(name)
            if f"config[{name!r}]" in message or (value is not None and str(value) in message):
                return (
                    f"setting {name!r} is not valid (it must be a non-empty string); "
                    "its value is not shown because it is a secret"
                )
        return message

    @classmethod
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: Any = None,
        file_input: IO[str] | None = None,
    ) -> None:
        """The SDK's command, with settings the schema refuses ending in one line, status 2."""
        try:
            super().invoke(
                about=about, about_format=about_format, config=config, file_input=file_input
            )
        except ConfigValidationError as exc:
            # Secrets are already out of the errors (see _hide_secrets).
            cls.logger.error("Settings are not valid: %s", "; ".join(exc.errors))
            raise SystemExit(2) from None

    @classmethod
    def known_settings(cls) -> set[str]:
        """Every setting name the target reads, the SDK's own included."""
        schema = copy.deepcopy(cls.config_jsonschema)
        cls.append_builtin_config(schema)
        return set(schema.get("properties", {}))

    def _warn_unknown_settings(self) -> None:
        known = self.known_settings()
        unknown = {name: "" for name in set(self.config) - known}
        for variable in os.environ:
            # Meltano sets TARGET_ATLASSIAN_CSM_<setting> for every setting it knows, and
            # TARGET_ATLASSIAN_CSM__<extra> (_dialect, _log_parser...) for its own extras.
            name = variable.removeprefix(ENV_PREFIX).lower()
            extra = not name or name.startswith("_")
            if variable.startswith(ENV_PREFIX) and not extra and name not in known:
                unknown.setdefault(name, f" (environment variable {variable})")
        for name in sorted(unknown):
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.logger.warning("Unknown setting %r%s is ignored%s.", name, unknown[name], hint)

    # ------------------------------------------------------------------ runtime
    @property
    def runtime(self) -> LoadRuntime:
        """The load's client, ledger and pipeline (built when the input starts)."""
        if self._runtime is None:
            self._runtime = LoadRuntime(self.config, self.barrier, self.logger)
        return self._runtime

    @property
    def line_number(self) -> int | None:
        """The input line being processed."""
        reader = self.message_reader
        return reader.line_number if isinstance(reader, CountingReader) else None

    @property
    def repairs(self) -> list[str]:
        """Fields of the current message the reader repaired (see :mod:`.reader`)."""
        reader = self.message_reader
        return list(reader.repairs) if isinstance(reader, CountingReader) else []

    def _malformed_line(self, line: int, raw: str, reason: str) -> None:
        self.logger.error(
            "Input line %d skipped: %s (written to the dead-letter file)", line, reason
        )
        runtime = self.runtime
        runtime.dead_letters.write(reason=reason, stream=None, line=line, record=truncate(raw))
        runtime.summary.request("malformed_input_lines")

    # ------------------------------------------------------------------- routing
    def rule_for(self, stream_name: str) -> StreamRule:
        """The rule for a stream: the preset's, overridden by ``mapping.<stream>``."""
        if stream_name in self._rules:
            return self._rules[stream_name]
        schema = self._schemas.get(stream_name, {})
        preset = self._preset
        overrides = (self.config.get("mapping") or {}).get(stream_name)
        base = preset.rule_for(stream_name, schema)
        try:
            if overrides is not None:
                rule = (
                    base.merged(overrides, stream_name)
                    if base
                    else StreamRule.from_config(stream_name, overrides)
                )
            else:
                rule = base if base is not None else StreamRule(entity=IGNORE)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        if rule.entity == IGNORE and overrides is None:
            self._unmapped_streams.add(stream_name)
        if rule.entity == IGNORE:
            self.logger.info(
                "Stream '%s' is not mapped to CSM: its records are counted and "
                "ignored (set mapping.%s to load it).",
                stream_name,
                stream_name,
            )
        else:
            self._mapped_streams.add(stream_name)
            self.barrier.release_hold()
        self._rules[stream_name] = rule
        return rule

    def _process_record_message(self, message_dict: dict) -> None:
        """Tell provisioning which stream talks: a metadata stream ends when another starts."""
        if self.provisioner is not None and isinstance(message_dict.get("stream"), str):
            self.provisioner.observe(message_dict["stream"])
        super()._process_record_message(message_dict)

    def _process_schema_message(self, message_dict: dict) -> None:
        stream = message_dict.get("stream")
        if self.provisioner is not None and isinstance(stream, str):
            self.provisioner.observe(stream)
        if isinstance(stream, str) and isinstance(message_dict.get("schema"), dict):
            if self._schemas.get(stream) != message_dict["schema"]:
                self._rules.pop(stream, None)
                if not self.runtime.dry_run:  # kept for retrying dead letters without the tap
                    self.runtime.ledger.save_schema(
                        stream, message_dict["schema"], message_dict.get("key_properties")
                    )
            self._schemas[stream] = message_dict["schema"]
        super()._process_schema_message(message_dict)

    def get_sink_class(  # type: ignore[override]
        self, stream_name: str
    ) -> type[CsmSink] | type[IgnoredSink] | type[MetadataSink]:
        """MetadataSink for field metadata, CsmSink for mapped streams, else IgnoredSink."""
        if (
            self.provisioner is not None
            and stream_name not in (self.config.get("mapping") or {})
            and self.provisioner.metadata_kind(stream_name, self._schemas.get(stream_name, {}))
        ):
            return MetadataSink
        return IgnoredSink if self.rule_for(stream_name).entity == IGNORE else CsmSink

    # --------------------------------------------------------------------- STATE
    def _process_state_message(self, message_dict: dict) -> None:
        """Hold the tap's STATE until every record before it has ended."""
        self._assert_line_requires(message_dict, requires={"value"})
        self.barrier.offer(message_dict["value"])
        self.barrier.maybe_emit()

    def _write_state_message(self, state: dict) -> None:
        """Write one STATE line to stdout (called by the barrier, from any thread)."""
        line = json.dumps(state)
        with self._stdout_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    # ----------------------------------------------------------------- the run
    def listen(self, file_input: IO[str] | None = None) -> None:
        """Check the site, read the input, end the run (see the module docstring)."""
        try:
            runtime = self.runtime
            runtime.preflight()
            runtime.summary.settings = self._settings_that_matter()
            self._progress = ProgressReporter(
                float(self.config.get("progress_interval_seconds", 15)),
                self._progress_snapshot,
                runtime.summary.sample,
                self.logger,
            )
            self._progress.start()
            super().listen(file_input)
        except EXPECTED as exc:
            self.logger.error("%s", exc)
            self._abandon()
            raise SystemExit(2) from None
        finally:
            if self._progress is not None:
                self._progress.stop()

    def _abandon(self) -> None:
        """Stop what runs and close files, writing no summary (the run did not happen)."""
        if self._runtime is not None:
            self._runtime.abandon()

    def _settings_that_matter(self) -> dict[str, Any]:
        """The settings a report shows next to the run (no secret, no credential)."""
        shown = (
            "cloud_id", "base_url", "mapping_preset", "dry_run", "create_missing_fields",
            "create_missing_organizations", "empty_field_policy", "invalid_detail_policy",
            "customer_batch_size", "organization_batch_size", "max_tasks_in_flight",
            "max_requests_per_second", "max_failure_rate", "failure_rate_min_records",
        )  # fmt: skip
        # The SDK reads config files with Decimal numbers: the summary is JSON.
        return {
            name: float(value) if isinstance(value, Decimal) else value
            for name in shown
            if name in self.config and (value := self.config.get(name)) is not None
        }

    def _progress_snapshot(self) -> tuple[Any, Any, float | None]:
        runtime = self.runtime
        entities = runtime.summary.to_dict()["entities"]
        pipeline = runtime.pipeline
        allowed = None
        customers = int(self.config["customer_batch_size"])
        expected = pipeline.poll_schedule.expected("customer", customers)
        if expected:
            allowed = pipeline.settings.max_tasks_in_flight * customers / expected
        return entities, pipeline.progress(), allowed

    def process_endofpipe(self) -> None:
        """Wait for every record to end, emit the last STATE, report, and judge the run."""
        if self.provisioner is not None:
            self.provisioner.finish_input()  # streams still waiting for metadata go now
        super().process_endofpipe()
        runtime = self.runtime
        try:
            runtime.finish()
        finally:
            runtime.summary.sample(self._progress_snapshot()[2])
            if self.provisioner is not None:
                runtime.summary.plan = runtime.plan.to_dict()
            if runtime.dry_run or self.provisioner is not None:
                counts = runtime.summary.to_dict()["entities"]
                self.plan_lines = runtime.plan.render(counts, dry_run=runtime.dry_run)
                for line in self.plan_lines:
                    self.logger.info(line)
            problems = self._verdict(runtime)
            if not problems:
                self.barrier.release_hold()
                self.barrier.maybe_emit(force=True)
            runtime.summary.state_messages = self.barrier.emitted
            runtime.close()
        for problem in problems:
            self.logger.error(problem)
        if problems:
            raise SystemExit(2)
        if runtime.dry_run:
            self.logger.info(
                "Dry run: nothing was sent to CSM, and no STATE was passed on (the tap's "
                "bookmarks do not move)."
            )

    def _verdict(self, runtime: LoadRuntime) -> list[str]:
        """Why the run did not do its job (empty: it did)."""
        if not self._mapped_streams and self._unmapped_streams:
            streams = ", ".join(sorted(self._unmapped_streams))
            preset = self.config.get("mapping_preset", "auto")
            return [
                f"No stream maps to CSM (streams: {streams}; mapping_preset: {preset}): nothing "
                "was loaded and no STATE was passed on. Set `mapping` for your streams or pick "
                "the mapping_preset of your tap (see docs/target-atlassian-csm.md)."
            ]
        return runtime.summary.over_failure_bound(
            float(self.config.get("max_failure_rate", 0.05)),
            int(self.config.get("failure_rate_min_records", 20)),
            str(runtime.dead_letters.path),
        )

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:  # noqa: ARG002
        """SIGTERM/SIGINT: send nothing new, let tasks in flight end, emit the STATE reached."""
        self.logger.warning("Received signal %d: stopping after the tasks in flight.", signum)
        if self._progress is not None:
            self._progress.stop()
        if self._runtime is not None:
            grace = float(self.config.get("shutdown_grace_seconds", 60))
            self._runtime.pipeline.stop(grace)
            self._runtime.close()
        self.logger.warning("Stopped. Rerun to resume from the last STATE emitted.")
        sys.exit(1)


if __name__ == "__main__":
    TargetAtlassianCSM.cli()
