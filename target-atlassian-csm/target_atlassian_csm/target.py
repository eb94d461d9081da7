"""target-atlassian-csm: the Singer target class.

The SDK reads the messages and routes records to sinks; this class decides each stream's
rule (preset or ``mapping`` setting), owns the STATE barrier (the tap's STATE goes out only
once every record before it is confirmed by CSM or dead-lettered), and ends the run: waits
for the pipeline, prints the summary, and exits non-zero when too many records failed.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from types import FrameType
from typing import IO, Any

from singer_sdk.target_base import Target

from target_atlassian_csm.barrier import StateBarrier
from target_atlassian_csm.deadletter import DeadLetters
from target_atlassian_csm.definition_files import read_definition_files
from target_atlassian_csm.mapping import IGNORE, StreamRule
from target_atlassian_csm.presets import PRESETS
from target_atlassian_csm.provisioning import (
    Provisioner,
    ProvisioningError,
    ProvisioningSettings,
)
from target_atlassian_csm.reader import CountingReader, truncate
from target_atlassian_csm.runtime import LoadRuntime
from target_atlassian_csm.settings import CONFIG_SCHEMA
from target_atlassian_csm.sinks import CsmSink, IgnoredSink, MetadataSink


class TargetAtlassianCSM(Target):
    """Loads Singer streams into Atlassian CSM organizations and customers."""

    name = "target-atlassian-csm"
    config_jsonschema = CONFIG_SCHEMA
    default_sink_class = CsmSink
    message_reader_class = CountingReader

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._runtime: LoadRuntime | None = None
        self._rules: dict[str, StreamRule] = {}
        self._schemas: dict[str, dict[str, Any]] = {}
        self._ignored: Counter[str] = Counter()
        self._stdout_lock = threading.Lock()
        self._pending_malformed: list[tuple[int, str, str]] = []
        self.provisioner: Provisioner | None = None
        self.plan_lines: list[str] = []
        super().__init__(*args, **kwargs)
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
        self.barrier = StateBarrier(
            self._write_state_message,
            every_records=int(self.config.get("state_every_records", 1000)),
            every_seconds=float(self.config.get("state_every_seconds", 30)),
        )
        if isinstance(self.message_reader, CountingReader):
            self.message_reader.on_malformed = self._malformed_line

    # ------------------------------------------------------------------ runtime
    @property
    def runtime(self) -> LoadRuntime:
        """The load's client, ledger and pipeline (built on first use)."""
        if self._runtime is None:
            self._runtime = LoadRuntime(self.config, self.barrier, self.logger)
            for line, raw, reason in self._pending_malformed:
                self._runtime.dead_letters.write(
                    reason=reason, stream=None, line=line, record=truncate(raw)
                )
                self._runtime.summary.request("malformed_input_lines")
            self._pending_malformed.clear()
        return self._runtime

    @property
    def line_number(self) -> int | None:
        """The input line being processed."""
        reader = self.message_reader
        return reader.line_number if isinstance(reader, CountingReader) else None

    def _malformed_line(self, line: int, raw: str, reason: str) -> None:
        self.logger.error(
            "Input line %d skipped: %s (written to the dead-letter file)", line, reason
        )
        if self._runtime is None:
            self._pending_malformed.append((line, raw, reason))
        else:
            self._runtime.dead_letters.write(
                reason=reason, stream=None, line=line, record=truncate(raw)
            )
            self._runtime.summary.request("malformed_input_lines")

    def ignored(self, stream: str) -> None:
        """A record of an unmapped stream."""
        if self._runtime is not None:
            self._runtime.summary.ignored(stream)
        else:
            self._ignored[stream] += 1

    # ------------------------------------------------------------------- routing
    def rule_for(self, stream_name: str) -> StreamRule:
        """The rule for a stream: the preset's, overridden by ``mapping.<stream>``."""
        if stream_name in self._rules:
            return self._rules[stream_name]
        schema = self._schemas.get(stream_name, {})
        preset = PRESETS[self.config.get("mapping_preset", "auto")]
        overrides = (self.config.get("mapping") or {}).get(stream_name)
        base = preset.rule_for(stream_name, schema)
        if overrides is not None:
            rule = (
                base.merged(overrides, stream_name)
                if base
                else StreamRule.from_config(stream_name, overrides)
            )
        elif base is not None:
            rule = base
        else:
            rule = StreamRule(entity=IGNORE)
        if rule.entity == IGNORE:
            self.logger.info(
                "Stream '%s' is not mapped to CSM: its records are counted and "
                "ignored (set mapping.%s to load it).",
                stream_name,
                stream_name,
            )
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
        """Hold the tap's STATE until every record before it has settled."""
        self._assert_line_requires(message_dict, requires={"value"})
        self.barrier.offer(message_dict["value"])
        self.barrier.maybe_emit()

    def _write_state_message(self, state: dict) -> None:
        """Write one STATE line to stdout (called by the barrier, from any thread)."""
        line = json.dumps(state)
        with self._stdout_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    # ------------------------------------------------------------------- the end
    def listen(self, file_input: IO[str] | None = None) -> None:
        """Read the input; a field plan that cannot be carried out ends the run with status 2."""
        try:
            super().listen(file_input)
        except ProvisioningError as exc:
            self.logger.error("Field provisioning stopped the run: %s", exc)
            if self._runtime is not None:
                self._runtime.pipeline.stop(0)
                self._runtime.close(write_summary=False)
            raise SystemExit(2) from exc

    def process_endofpipe(self) -> None:
        """Wait for every record to settle, emit the last STATE, report."""
        if self.provisioner is not None:
            self.provisioner.finish_input()  # streams still waiting for metadata go now
        super().process_endofpipe()
        if self._runtime is None:
            self._dead_letter_pending_lines()
            self.barrier.maybe_emit(force=True)
            if self._ignored:
                self.logger.info("No records for CSM; ignored: %s", dict(self._ignored))
            return
        runtime = self._runtime
        for stream, count in self._ignored.items():
            runtime.summary.ignored_streams[stream] += count
        try:
            runtime.finish()
        finally:
            if self.provisioner is not None:
                runtime.summary.plan = runtime.plan.to_dict()
            if runtime.dry_run or self.provisioner is not None:
                counts = runtime.summary.to_dict()["entities"]
                self.plan_lines = runtime.plan.render(counts, dry_run=runtime.dry_run)
                for line in self.plan_lines:
                    self.logger.info(line)
            data = runtime.close()
        rate = runtime.summary.failure_rate()
        bound = float(self.config.get("max_failure_rate", 0.05))
        if rate > bound:
            self.logger.error(
                "%.1f%% of the records failed (bound: %.1f%%): see %s. Exiting with an error.",
                rate * 100,
                bound * 100,
                runtime.dead_letters.path,
            )
            raise SystemExit(2)
        if data["dry_run"]:
            self.logger.info("Dry run: nothing was sent to CSM.")

    def _dead_letter_pending_lines(self) -> None:
        """Input with bad lines and no record: the bad lines still reach the dead letters."""
        if not self._pending_malformed:
            return
        dead = DeadLetters(self.config["dead_letter_path"], enabled=not self.config.get("dry_run"))
        for line, raw, reason in self._pending_malformed:
            dead.write(reason=reason, stream=None, line=line, record=truncate(raw))
        dead.close()
        self._pending_malformed.clear()

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:  # noqa: ARG002
        """SIGTERM/SIGINT: send nothing new, let tasks in flight end, emit the STATE reached."""
        self.logger.warning("Received signal %d: stopping after the tasks in flight.", signum)
        if self._runtime is not None:
            grace = float(self.config.get("shutdown_grace_seconds", 60))
            self._runtime.pipeline.stop(grace)
            self._runtime.close()
        else:
            self.barrier.maybe_emit(force=True)
        self.logger.warning("Stopped. Rerun to resume from the last STATE emitted.")
        sys.exit(1)


if __name__ == "__main__":
    TargetAtlassianCSM.cli()
