"""Doccano sequence-labelling exports (JSONL, also read as a JSON list).

Two layouts exist, both read here:
- older exports: `{"id", "text", "label": [[start, end, "LABEL"], ...]}` (some versions say `labels`);
- newer exports: `{"id", "text", "entities": [{"id", "start_offset", "end_offset", "label"}], "relations": [...]}`.

Offsets are used exactly as written: an entity at offset 0 is kept, and leading whitespace in the text
shifts nothing (both were bugs of the benchmark paper's own Doccano loader). Relations are counted in
the report's ignored lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from ..corpus import ConversionReport, Entity, Record
from .jsonspans import check_offsets, iter_json_objects, record_id, record_text

ENTITY_KEYS = ("label", "labels", "entities")


def read_doccano(path: Path, report: ConversionReport, *, encoding: str | None = None) -> Iterator[Record]:
    """Records from a Doccano export.

    path: a `.jsonl` file (one record per line) or a `.json` list of records.
    encoding: the file's encoding; default UTF-8 with a cp1252/latin-1 fallback (reported).
    Each entity's origin is "FILE:line N annotation M" (JSONL) or "FILE record N annotation M".
    """
    path = Path(path)
    for number, (where, obj) in enumerate(iter_json_objects(path, report, encoding), start=1):
        text = record_text(where, obj, "text", report)
        if text is None:
            continue
        key = next((k for k in ENTITY_KEYS if k in obj), None)
        annotations = obj.get(key, []) if key else []
        if not isinstance(annotations, list):
            report.error(where, f"{key!r} must be a list of entities, found {type(annotations).__name__}")
            continue
        relations = obj.get("relations")
        if isinstance(relations, list) and relations:
            report.ignored_lines["doccano relations"] += len(relations)
        entities = []
        for index, annotation in enumerate(annotations, start=1):
            entity = _entity(f"{where} annotation {index}", annotation, report)
            if entity is not None:
                entities.append(entity)
        yield Record(record_id(obj, ("id", "doc_id"), path, number), text, entities, where)


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
        start = annotation.get("start_offset", annotation.get("start"))
        end = annotation.get("end_offset", annotation.get("end"))
        label = annotation.get("label")
        entity_id = annotation.get("id")
        skip = {"start_offset", "end_offset", "start", "end", "label", "id"}
        attributes = {k: v for k, v in annotation.items() if k not in skip}
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
