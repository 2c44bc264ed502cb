"""Doccano sequence-labelling exports (JSONL, also read as a JSON list).

Two layouts exist, both read here:
- older exports: `{"id", "text", "label": [[start, end, "LABEL"], ...]}` (some versions say `labels`);
- newer exports: `{"id", "text", "entities": [{"id", "start_offset", "end_offset", "label"}], "relations": [...]}`.

A record holding several of `label`, `labels` and `entities` has all of them read: doccano gives no meaning
to that case, so no annotation is chosen over another (the same span under two keys becomes two entities).
Annotations are numbered in the record's order across those keys. Offsets are used exactly as written: an
entity at offset 0 is kept, and leading whitespace in the text shifts nothing (both were bugs of the
benchmark paper's own Doccano loader). Relations are counted in the report's ignored lines; other fields
are listed in a note.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from ..corpus import ConversionReport, Entity, Record
from .jsonspans import UnreadFields, annotation_entities, check_offsets, one_of, record_id, text_records, unread_spans

ENTITY_KEYS = ("label", "labels", "entities")
ID_KEYS = ("id", "doc_id")
START_KEYS, END_KEYS = ("start_offset", "start"), ("end_offset", "end")
CORE_KEYS = frozenset((*START_KEYS, *END_KEYS, "label", "id"))


def read_doccano(path: Path, report: ConversionReport, *, encoding: str | None = None) -> Iterator[Record]:
    """Records from a Doccano export.

    path: a `.jsonl` file (one record per line) or a `.json` list of records.
    encoding: the file's encoding; default UTF-8 with a cp1252/latin-1 fallback (reported).
    Each entity's origin is "FILE:line N annotation M" (JSONL) or "FILE record N annotation M".
    """
    path = Path(path)
    unread = UnreadFields(path)
    for number, where, obj, text in text_records(path, report, encoding):
        annotations = _annotations(where, obj, report)
        if annotations is None:
            continue
        relations = obj.get("relations")
        read = {"text", *ID_KEYS, *ENTITY_KEYS} | ({"relations"} if isinstance(relations, list) else set())
        span_keys = unread.add(where, obj, read)
        if span_keys and not unread_spans(where, ENTITY_KEYS, span_keys, bool(annotations), report):
            continue
        if isinstance(relations, list) and relations:
            report.ignored_lines["doccano relations"] += len(relations)
        entities = annotation_entities(where, annotations, _entity, report)
        yield Record(record_id(where, obj, ID_KEYS, path, number, report), text, entities, where)
    unread.note(report)


def _annotations(where: str, obj: dict[str, Any], report: ConversionReport) -> list[Any] | None:
    """The annotations under every entity key of the record, in its order (None after an error)."""
    annotations: list[Any] = []
    for key in (k for k in obj if k in ENTITY_KEYS):
        value = obj[key]
        if value is None:
            continue
        if not isinstance(value, list):
            report.error(where, f"{key!r} must be a list of entities, found {type(value).__name__}")
            return None
        annotations.extend(value)
    return annotations


def _entity(where: str, annotation: Any, report: ConversionReport) -> Entity | None:
    """A `[start, end, label]` triple or an entity object as an Entity (problems reported)."""
    if isinstance(annotation, list):
        if len(annotation) != 3:
            report.drop(where, f"expected [start, end, label], found a list of {len(annotation)} items")
            return None
        start, end, label = annotation
        entity_id = None
        attributes: dict[str, Any] = {}
    elif isinstance(annotation, dict):
        unique_start, start = one_of(where, annotation, START_KEYS, report)
        unique_end, end = one_of(where, annotation, END_KEYS, report) if unique_start else (False, None)
        if not unique_end:
            return None
        label = annotation.get("label")
        entity_id = annotation.get("id")
        if entity_id is not None and (isinstance(entity_id, bool) or not isinstance(entity_id, (str, int))):
            found = type(entity_id).__name__
            report.repair(where, f"the entity id is a {found}, not a string or integer; a new id is given")
            entity_id = None
        attributes = {k: v for k, v in annotation.items() if k not in CORE_KEYS}
    else:
        # A bare string is a document-level (text classification) label, not a span.
        report.drop(where, f"not a span annotation: {type(annotation).__name__}")
        return None
    offsets = check_offsets(where, start, end, report)
    if offsets is None:
        return None
    return Entity(
        offsets[0],
        offsets[1],
        label,
        attributes,
        id=None if entity_id is None else str(entity_id),
        origin=where,
    )
