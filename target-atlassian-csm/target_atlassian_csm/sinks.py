"""Sinks: one per stream, each mapping records and handing them to the shared pipeline.

Batching is not the SDK's here: the pipeline batches per CSM endpoint across streams and
keeps several tasks in flight, so a sink only maps, validates and hands over (a RecordSink
whose ``current_size`` stays 0, so the SDK never drains it on its own). Date strings are left
as strings: the detail-field formatters read them.

**No record can stop the run.** A record that breaks its Singer schema, a schema that cannot
be used at all (a ``$ref`` that does not resolve), a value the mapping refuses, or an error
nobody foresaw while mapping one record: each ends *that* record (dead-lettered with its
stream, input line, source id and email or name where known) and the run goes on.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import InvalidRecord
from singer_sdk.sinks import RecordSink

from target_atlassian_csm.fields import scalar_text
from target_atlassian_csm.mapping import (
    ASSOCIATION_ENTITY,
    DELETED_IN_SOURCE,
    IGNORE,
    Deleted,
    MappingError,
    Skip,
    StreamMapper,
    StreamRule,
    Unloadable,
)
from target_atlassian_csm.operations import CUSTOMER, DELETION, FLAG, ORGANIZATION, Operation
from target_atlassian_csm.outcomes import FAILED, REJECTED, SKIPPED
from target_atlassian_csm.paths import compile_alternatives
from target_atlassian_csm.provisioning import Held
from target_atlassian_csm.validation import compiled_or_none

if TYPE_CHECKING:
    from singer_sdk.helpers._typing import DatetimeErrorTreatmentEnum
    from singer_sdk.sinks.core import BaseJSONSchemaValidator

    from target_atlassian_csm.target import TargetAtlassianCSM


class ConfigurationError(ValueError):
    """The settings cannot work with this stream (said in one line, the run stops)."""


class _NoteErrors:
    """Wraps a validator: remembers the problem instead of raising it."""

    def __init__(self, inner: BaseJSONSchemaValidator, sink: CsmSink) -> None:
        self.inner = inner
        self.sink = sink

    def validate(self, record: dict[str, Any]) -> None:
        try:
            self.inner.validate(record)
        except InvalidRecord as exc:
            self.sink.schema_error = f"record does not match the stream's schema: {exc}"
        except Exception as exc:  # noqa: BLE001 - an unusable schema fails its records only
            self.sink.schema_error = (
                f"the stream's schema cannot be used to validate records "
                f"({type(exc).__name__}: {exc})"
            )


class _Unloaded(RecordSink):
    """A stream the SDK routes here; date strings are never parsed (formatters read them)."""

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
        """Keep date strings as sent."""


class CsmSink(_Unloaded):
    """Maps a stream's records to CSM operations (see module docstring)."""

    def __init__(
        self,
        target: TargetAtlassianCSM,
        stream_name: str,
        schema: dict[str, Any],
        key_properties: list[str] | None,
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        self.rule: StreamRule = target.rule_for(stream_name)
        self.schema_error: str | None = None
        self._mapper: StreamMapper | None = None
        self._key_getter = compile_alternatives(list(key_properties or ()) or ["id"])
        provisioner = target.provisioner
        if provisioner is not None and self.rule.entity not in (IGNORE, ASSOCIATION_ENTITY):
            provisioner.register(stream_name, self.rule.entity, self.rule, schema, self._process)
        else:
            _ = self.mapper  # compiled now: a mapping the site cannot take stops the run here
        if (
            self.rule.entity in (CUSTOMER, ORGANIZATION)
            and self.config.get("delete_policy") == "flag"
        ):
            self._flag_field()  # a flag field the site lacks stops the run here

    @property
    def entity(self) -> str:
        """The CSM entity the stream's records end as (associations end with customers)."""
        return CUSTOMER if self.rule.entity == ASSOCIATION_ENTITY else self.rule.entity

    def get_validator(self) -> BaseJSONSchemaValidator | None:
        """A compiled validator, wrapped so a bad record is dead-lettered, not fatal.

        See :mod:`.validation`; the SDK's own is kept when it cannot compile the schema.
        """
        try:
            inner = super().get_validator()
        except Exception as exc:  # noqa: BLE001 - the schema itself is unusable
            self.schema_error = f"the stream's schema cannot be used ({type(exc).__name__}: {exc})"
            return None
        if inner is not None:
            inner = compiled_or_none(self.schema) or inner
        return _NoteErrors(inner, self) if inner is not None else None  # type: ignore[return-value]

    @property
    def mapper(self) -> StreamMapper:
        """The rule compiled against the schema and the site's fields (first use only)."""
        if self._mapper is None:
            runtime = self.csm_target.runtime
            catalog = runtime.catalog(self.entity)
            provisioner = self.csm_target.provisioner
            mapper = StreamMapper(
                self.stream_name,
                self.rule,
                self.schema,
                catalog,
                drop_invalid_details=self.config.get("invalid_detail_policy") == "drop_field",
                bindings=provisioner.bindings(self.stream_name) if provisioner else (),
            )
            if mapper.unknown_fields:
                msg = (
                    f"mapping.{self.stream_name}.details names CSM {self.entity} field(s) "
                    f"{mapper.unknown_fields} that the site does not have; its fields: "
                    f"{catalog.names()}"
                )
                raise ConfigurationError(msg)
            if self.rule.entity != ASSOCIATION_ENTITY:
                mapped = ", ".join(f.name for f, _ in mapper.details) or "(none)"
                self.logger.info(
                    "Stream '%s' loads as CSM %ss; detail fields: %s",
                    self.stream_name,
                    self.entity,
                    mapped,
                )
            self._mapper = mapper
        return self._mapper

    def process_record(self, record: dict, context: dict) -> None:  # noqa: ARG002
        """Take one record: processed now, or held until its stream's detail fields exist."""
        target = self.csm_target
        item = Held(
            record=record,
            seq=target.runtime.barrier.next_seq(),
            line=target.line_number,
            problem=self.schema_error,
            repairs=target.repairs,
        )
        if self._schema_usable():
            self.schema_error = None  # a record's own problem: the next record starts clean
        provisioner = target.provisioner
        if provisioner is None or provisioner.admit(self.stream_name, item):
            self._process(item)

    def _singer_validate_message(self, record: dict) -> None:
        """A record without its key properties is dead-lettered, not fatal (as the SDK makes it)."""
        missing = [k for k in self.key_properties or () if k not in record]
        if missing and self.schema_error is None:
            self.schema_error = f"record lacks its key properties {missing}"

    def _schema_usable(self) -> bool:
        return self.schema_error is None or not self.schema_error.startswith(
            "the stream's schema cannot be used"
        )

    def _process(self, item: Held) -> None:
        """Map one record and hand it to the pipeline, or end it here with the reason."""
        records = self.csm_target.runtime.records
        record, problem, how = item.record, item.problem, FAILED
        result: Any = None
        if problem is None:
            try:
                result = self._map(item)
            except Unloadable as exc:
                problem, how = str(exc), REJECTED
            except MappingError as exc:
                problem = str(exc)
            except ConfigurationError:
                raise
            except Exception as exc:  # noqa: BLE001 - one record never stops the run
                problem = f"the record cannot be mapped ({type(exc).__name__}: {exc})"
        if problem is None and result is None:
            return  # an association: the pipeline has it
        if isinstance(result, Deleted) and self._delete_policy != "ignore":
            records.received(self.entity)
            self._deleted(result.identity, result.source_id, [item.seq], item)
            return
        if problem is not None or isinstance(result, Skip | Deleted):
            if self.rule.entity != ASSOCIATION_ENTITY:
                records.received(self.entity)
            records.end(
                entity=self.entity,
                seqs=[item.seq],
                how=how if problem is not None else SKIPPED,
                reason=problem,
                stream=self.stream_name,
                record=record,
                source_id=self._source_id(record),
                identity=self._identity(record),
                line=item.line,
                counted=self.rule.entity != ASSOCIATION_ENTITY,
            )
            source_id = self._source_id(record) if self.entity == ORGANIZATION else None
            if source_id:  # customers that name it must not wait for it
                why = _not_loaded_why(problem, result)
                self.csm_target.runtime.pipeline.source_not_loaded(self.stream_name, source_id, why)
            return
        result.seqs = [item.seq]
        result.line = item.line
        for warning in result.warnings:
            records.warn(result, f"loaded without a field: {warning}")
        if item.repairs:
            records.warn(
                result,
                "invalid UTF-16 surrogates replaced by U+FFFD in: " + ", ".join(item.repairs),
            )
        self._unflag(result)
        self.csm_target.runtime.pipeline.accept(result)
        if self._delete_policy != "ignore":
            for merged in self.mapper.merged_source_ids(record):
                seq = self.csm_target.runtime.barrier.next_seq()
                records.received(self.entity)  # the source's word that this id is gone
                self._deleted(None, merged, [seq], item, spare=result.key)

    @functools.cached_property
    def _delete_policy(self) -> str:
        """The setting, read once per sink (the config does not change during a run)."""
        return str(self.config.get("delete_policy") or "ignore")

    def _deleted(
        self,
        identity: str | None,
        source_id: str | None,
        seqs: list[int],
        item: Held,
        spare: str | None = None,
    ) -> None:
        """Hand a record deleted in the source to the pipeline, as the policy says."""
        flag = self._delete_policy == "flag"
        details = {}
        if flag:
            definition = self._flag_field()
            details = {definition.name: definition.format(self.config.get("delete_flag_value"))}
        op = Operation(
            self.entity, identity or "", self.stream_name, source_id=source_id,
            details=details, record=item.record, seqs=seqs, line=item.line,
            origin=FLAG if flag else DELETION,
        )  # fmt: skip
        self.csm_target.runtime.pipeline.delete(op, spare=spare)

    def _unflag(self, op: Operation) -> None:
        """A live record under ``delete_policy: flag``: a deletion flag an earlier run set goes.

        It is cleared like an emptied field: only where the ledger says this target set it.
        """
        if self._delete_policy == "flag":
            flag_name = self._flag_field().name
            if flag_name not in op.details:
                op.cleared = op.cleared | {flag_name}

    def _flag_field(self) -> Any:
        name = str(self.config.get("delete_flag_field") or "")
        definition = self.csm_target.runtime.catalog(self.entity).get(name)
        if definition is None:
            msg = (
                f"delete_policy flag: delete_flag_field {name!r} is not a CSM {self.entity} "
                "detail field: create it (a TEXT or SELECT field) or choose another"
            )
            raise ConfigurationError(msg)
        return definition

    def _map(self, item: Held) -> Any:
        """The operation for a record (None: an association handed over already)."""
        if self.rule.entity != ASSOCIATION_ENTITY:
            return self.mapper.map(item.record)
        found = self.mapper.association(item.record)
        if found is None:
            msg = "association record without a customer id or an organization"
            raise MappingError(msg)
        customer_id, ref = found
        self.csm_target.runtime.pipeline.associate(
            customer_stream=self.rule.customer_stream or "",
            customer_id=customer_id,
            ref=ref,
            seq=item.seq,
            stream=self.stream_name,
            record=item.record,
            line=item.line,
        )
        return None

    def _identity(self, record: dict) -> str | None:
        """The email or name the record names, when one can be read (for dead letters)."""
        try:
            return self.mapper.identity_of(record)
        except Exception:  # noqa: BLE001 - best effort, for the report only
            return None

    def _source_id(self, record: dict) -> str | None:
        """The record's source id: the rule's, else the stream's key properties."""
        try:
            found = self.mapper.source_id_of(record)
        except Exception:  # noqa: BLE001 - best effort, for the report only
            found = None
        if found is None and isinstance(record, dict):
            value = self._key_getter(record) if self._key_getter else None
            found = scalar_text(value) if value not in (None, "") else None
        return found


class MetadataSink(_Unloaded):
    """A stream describing the source's fields: read by provisioning, not loaded."""

    def process_record(self, record: dict, context: dict) -> None:  # noqa: ARG002
        """Hand the definition to the provisioner."""
        provisioner = self.csm_target.provisioner
        kind = provisioner.metadata_kind(self.stream_name, self.schema) if provisioner else None
        if provisioner is not None and kind is not None:
            provisioner.add_metadata(self.stream_name, kind, record)


class IgnoredSink(_Unloaded):
    """A stream that is not mapped to CSM: counted, not loaded."""

    def process_record(self, record: dict, context: dict) -> None:  # noqa: ARG002
        """Count the record."""
        self.csm_target.runtime.summary.ignored(self.stream_name)


__all__ = ["IGNORE", "ConfigurationError", "CsmSink", "IgnoredSink", "MetadataSink"]


def _not_loaded_why(problem: str | None, result: Any) -> str:
    """Why an organization record is not loaded, as said of it in its customers' warnings."""
    if problem is not None:
        return f"was not loaded ({problem})"
    if isinstance(result, Deleted):
        return DELETED_IN_SOURCE
    return f"is not loaded ({result.reason})"
