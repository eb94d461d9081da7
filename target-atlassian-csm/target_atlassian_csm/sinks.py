"""Sinks: one per stream, each mapping records and handing them to the shared pipeline.

Batching is not the SDK's here: the pipeline batches per CSM endpoint across streams and
keeps several tasks in flight, so a sink only maps, validates and hands over (a RecordSink
whose ``current_size`` stays 0, so the SDK never drains it on its own). Records that break
their Singer schema are dead-lettered with the validator's message instead of stopping the
run, and date strings are left as strings: the detail-field formatters read them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import InvalidRecord
from singer_sdk.sinks import RecordSink

from target_atlassian_csm.mapping import IGNORE, MappingError, Skip, StreamMapper, StreamRule
from target_atlassian_csm.provisioning import Held
from target_atlassian_csm.validation import compiled_or_none

if TYPE_CHECKING:
    from singer_sdk.helpers._typing import DatetimeErrorTreatmentEnum
    from singer_sdk.sinks.core import BaseJSONSchemaValidator

    from target_atlassian_csm.target import TargetAtlassianCSM


class _NoteErrors:
    """Wraps the SDK's validator: remembers the error instead of raising it."""

    def __init__(self, inner: BaseJSONSchemaValidator, sink: CsmSink) -> None:
        self.inner = inner
        self.sink = sink

    def validate(self, record: dict[str, Any]) -> None:
        try:
            self.inner.validate(record)
        except InvalidRecord as exc:
            self.sink.schema_error = f"record does not match the stream's schema: {exc}"


class CsmSink(RecordSink):
    """Maps a stream's records to CSM operations (see module docstring)."""

    def __init__(
        self,
        target: TargetAtlassianCSM,
        stream_name: str,
        schema: dict[str, Any],
        key_properties: list[str] | None,
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        self.csm_target = target
        self.rule: StreamRule = target.rule_for(stream_name)
        self.schema_error: str | None = None
        self._mapper: StreamMapper | None = None
        provisioner = target.provisioner
        if provisioner is not None and self.rule.entity != IGNORE:
            provisioner.register(stream_name, self.rule.entity, self.rule, schema, self._process)

    def get_validator(self) -> BaseJSONSchemaValidator | None:
        """A compiled validator, wrapped so a bad record is dead-lettered, not fatal.

        See :mod:`.validation`; the SDK's own is kept when it cannot compile the schema.
        """
        inner = super().get_validator()
        if inner is not None:
            inner = compiled_or_none(self.schema) or inner
        return _NoteErrors(inner, self) if inner is not None else None  # type: ignore[return-value]

    def _parse_timestamps_in_record(
        self, record: dict, schema: dict, treatment: DatetimeErrorTreatmentEnum
    ) -> None:
        """Keep date strings as sent: the field formatters parse what they need."""

    @property
    def mapper(self) -> StreamMapper:
        """The rule compiled against the schema and the site's fields (first use only)."""
        if self._mapper is None:
            runtime = self.csm_target.runtime
            catalog = runtime.catalog(self.rule.entity)
            mapper = StreamMapper(
                self.stream_name,
                self.rule,
                self.schema,
                catalog,
                drop_invalid_details=self.config.get("invalid_detail_policy") == "drop_field",
                bindings=provisioner.bindings(self.stream_name)
                if (provisioner := self.csm_target.provisioner)
                else (),
            )
            if mapper.unknown_fields:
                msg = (
                    f"mapping.{self.stream_name}.details names CSM {self.rule.entity} field(s) "
                    f"{mapper.unknown_fields} that the site does not have; its fields: "
                    f"{catalog.names()}"
                )
                raise ValueError(msg)
            mapped = ", ".join(f.name for f, _ in mapper.details) or "(none)"
            self.logger.info(
                "Stream '%s' loads as CSM %ss; detail fields: %s",
                self.stream_name,
                self.rule.entity,
                mapped,
            )
            self._mapper = mapper
        return self._mapper

    def process_record(self, record: dict, context: dict) -> None:  # noqa: ARG002
        """Take one record: processed now, or held until its stream's detail fields exist."""
        runtime = self.csm_target.runtime
        item = Held(
            record=record,
            seq=runtime.barrier.next_seq(),
            line=self.csm_target.line_number,
            problem=self.schema_error,
        )
        self.schema_error = None
        provisioner = self.csm_target.provisioner
        if provisioner is None or provisioner.admit(self.stream_name, item):
            self._process(item)

    def _process(self, item: Held) -> None:
        """Map one record and hand it to the pipeline, or dead-letter it with the reason."""
        runtime = self.csm_target.runtime
        record, seq, line, problem = item.record, item.seq, item.line, item.problem
        entity = self.rule.entity
        result: Any = None
        if problem is None:
            try:
                result = self.mapper.map(record)
            except MappingError as exc:
                problem = str(exc)
        if problem is not None:
            runtime.summary.count(entity, "received")
            runtime.summary.count(entity, "failed")
            runtime.plan.failure(entity, problem, self._who(record))
            runtime.dead_letters.write(
                reason=problem,
                stream=self.stream_name,
                record=record,
                entity=entity,
                source_id=self._source_id(record),
                line=line,
            )
            runtime.barrier.settle([seq])
            return
        if isinstance(result, Skip):
            runtime.summary.count(entity, "received")
            runtime.summary.count(entity, "skipped")
            runtime.barrier.settle([seq])
            return
        result.seqs = [seq]
        for warning in result.warnings:
            runtime.dead_letters.write(
                reason=f"loaded without a field: {warning}",
                stream=self.stream_name,
                record=record,
                entity=entity,
                identity=result.identity,
                source_id=result.source_id,
                line=line,
                severity="warning",
            )
        runtime.pipeline.accept(result)

    def _who(self, record: dict) -> str:
        """A short name of the record for the plan's examples (stream and source id)."""
        return f"{self.stream_name}/{self._source_id(record) or '?'}"

    def _source_id(self, record: dict) -> str | None:
        value = record.get("id") if isinstance(record, dict) else None
        return str(value) if value is not None else None


class _UnloadedSink(RecordSink):
    """A stream whose records are read but not loaded into CSM (no timestamps to parse)."""

    def __init__(
        self,
        target: TargetAtlassianCSM,
        stream_name: str,
        schema: dict[str, Any],
        key_properties: list[str] | None,
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        self.csm_target = target

    def _parse_timestamps_in_record(
        self, record: dict, schema: dict, treatment: DatetimeErrorTreatmentEnum
    ) -> None:
        """Nothing to parse: the record is not loaded as CSM values."""


class MetadataSink(_UnloadedSink):
    """A stream describing the source's fields: read by provisioning, not loaded."""

    def process_record(self, record: dict, context: dict) -> None:  # noqa: ARG002
        """Hand the definition to the provisioner."""
        provisioner = self.csm_target.provisioner
        kind = provisioner.metadata_kind(self.stream_name, self.schema) if provisioner else None
        if provisioner is not None and kind is not None:
            provisioner.add_metadata(self.stream_name, kind, record)


class IgnoredSink(_UnloadedSink):
    """A stream that is not mapped to CSM: counted, not loaded."""

    def process_record(self, record: dict, context: dict) -> None:  # noqa: ARG002
        """Count the record."""
        self.csm_target.ignored(self.stream_name)


__all__ = ["IGNORE", "CsmSink", "IgnoredSink", "MetadataSink"]
