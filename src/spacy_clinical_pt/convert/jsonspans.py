"""JSON spans: a JSON list (or JSONL) of `{"text", "annotations": [{"begin"|"start", "end", "label", ...}]}`.

This is the ER_NER layout (`doc_id`, `text` with `\\r\\n` line ends, `annotations` whose extra fields such as
`Polaridade` are kept as entity attributes). An annotation may also carry `"fragments": [[start, end], ...]`
(written by `export_jsonspans` for discontinuous entities), so BRAT -> JSON -> BRAT keeps them.

The helpers `iter_json_objects` and `int_offset` are shared with the Doccano and Argilla readers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from ..corpus import ConversionError, ConversionReport, Entity, Record, excerpt
from .encoding import read_text

START_KEYS = ("begin", "start")
# Keys that are the annotation itself; everything else is an attribute that export writes back.
CORE_KEYS = frozenset(("begin", "start", "end", "label", "fragments"))


def iter_json_objects(
    path: Path, report: ConversionReport, encoding: str | None = None
) -> Iterator[tuple[str, Any]]:
    """The records of a JSON list, a single JSON object, or JSONL (one object per line).

    Yields (where, value): `where` names the file and record ("data.json record 3", 1-based) or JSONL
    line ("data.jsonl line 3"), `value` is the parsed JSON value (not checked to be an object).
    A malformed JSON file is an error naming the line and column; a malformed JSONL line is an error
    for that line only (lenient mode goes on with the next line).
    """
    path = Path(path)
    if not path.exists():
        raise ConversionError(f"{path}: no such file")
    if path.is_dir():
        raise ConversionError(f"{path}: is a folder; this format reads one JSON or JSONL file")
    text = read_text(path, report, encoding)
    if not text.strip():
        return  # read_text has reported the empty file
    whole = None
    if path.suffix != ".jsonl":
        try:
            whole = json.loads(text)
        except json.JSONDecodeError as err:
            if text.lstrip().startswith("["):
                # A JSON list that does not parse cannot be split into records: nothing can be read.
                report.error(f"{path}:line {err.lineno}", f"malformed JSON (column {err.colno}): {err.msg}")
                return
            # Otherwise several values, one per line: JSON Lines.
    if isinstance(whole, list):
        for number, value in enumerate(whole, start=1):
            yield f"{path} record {number}", value
        return
    if whole is not None:
        yield f"{path} record 1", whole
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as err:
            report.error(f"{path}:line {number}", f"malformed JSON line (column {err.colno}): {err.msg}")
            continue
        yield f"{path}:line {number}", value


def int_offset(value: Any) -> int | None:
    """`value` when it is a JSON integer (not a bool, not a float, not a string), else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def check_offsets(where: str, start: Any, end: Any, report: ConversionReport) -> tuple[int, int] | None:
    """Both offsets as integers, or None after reporting the annotation as dropped (strict mode raises)."""
    if start is None or end is None:
        report.drop(where, "annotation without start or end offset")
        return None
    if int_offset(start) is None or int_offset(end) is None:
        report.drop(where, f"offsets are not integers: {start!r}-{end!r}")
        return None
    return start, end


def record_text(where: str, obj: Any, key: str, report: ConversionReport) -> str | None:
    """The document text `obj[key]`, or None after reporting the record as an error."""
    if not isinstance(obj, dict):
        report.error(where, f"expected a JSON object, found {type(obj).__name__}")
        return None
    text = obj.get(key)
    if not isinstance(text, str):
        found = "missing" if key not in obj else f"a {type(text).__name__}"
        report.error(where, f"the {key!r} field must be a string ({found})")
        return None
    if not text.strip():
        report.error(where, "the text is empty")
        return None
    return text


def record_id(obj: dict[str, Any], keys: tuple[str, ...], path: Path, number: int) -> str:
    """The record's own id (first of `keys` present), else "<file stem>-<number>"."""
    for key in keys:
        value = obj.get(key)
        if value is not None and str(value).strip():
            return str(value)
    return f"{path.stem}-{number}"


def read_jsonspans(path: Path, report: ConversionReport, *, encoding: str | None = None) -> Iterator[Record]:
    """Records from a JSON spans file (ER_NER layout).

    path: a `.json` file (list of records, or one record) or a `.jsonl` file (one record per line).
    encoding: the file's encoding; default UTF-8 with a cp1252/latin-1 fallback (reported).
    Each entity's origin is "FILE record N annotation M". A null or empty label is passed on, and
    reported (dropped, or an error in strict mode) by the shared builder.
    """
    path = Path(path)
    for number, (where, obj) in enumerate(iter_json_objects(path, report, encoding), start=1):
        text = record_text(where, obj, "text", report)
        if text is None:
            continue
        annotations = obj.get("annotations", [])
        if not isinstance(annotations, list):
            report.error(where, f"'annotations' must be a list, found {type(annotations).__name__}")
            continue
        entities = []
        for index, annotation in enumerate(annotations, start=1):
            entity = _annotation_entity(f"{where} annotation {index}", annotation, text, report)
            if entity is not None:
                entities.append(entity)
        yield Record(record_id(obj, ("doc_id", "id"), path, number), text, entities, where)


def _annotation_entity(where: str, annotation: Any, text: str, report: ConversionReport) -> Entity | None:
    """One annotation object as an Entity; format problems are reported (strict mode raises)."""
    if not isinstance(annotation, dict):
        report.drop(where, f"expected an annotation object, found {type(annotation).__name__}")
        return None
    start = next((annotation[k] for k in START_KEYS if k in annotation), None)
    offsets = check_offsets(where, start, annotation.get("end"), report)
    if offsets is None:
        return None
    fragments: tuple[tuple[int, int], ...] = ()
    if "fragments" in annotation:
        fragments = _fragments(where, annotation["fragments"], report)
        if fragments is None:
            return None
    attributes = {k: v for k, v in annotation.items() if k not in CORE_KEYS}
    quoted = attributes.get("text")
    if isinstance(quoted, str) and 0 <= offsets[0] < offsets[1] <= len(text) and not fragments:
        found = text[offsets[0]:offsets[1]]
        if found != quoted:
            report.drop(
                where,
                f"annotation text '{excerpt(quoted)}' does not match the text at offsets "
                f"{offsets[0]}-{offsets[1]} ('{excerpt(found)}')",
            )
            return None
    return Entity(offsets[0], offsets[1], annotation.get("label"), attributes, fragments, origin=where)


def _fragments(where: str, value: Any, report: ConversionReport) -> tuple[tuple[int, int], ...] | None:
    """A `fragments` field (`[[start, end], ...]`) as a tuple, or None after reporting it."""
    if not isinstance(value, list) or not all(isinstance(f, list) and len(f) == 2 for f in value):
        report.drop(where, "'fragments' must be a list of [start, end] pairs")
        return None
    pieces = []
    for start, end in value:
        offsets = check_offsets(where, start, end, report)
        if offsets is None:
            return None
        pieces.append(offsets)
    # One fragment is just a contiguous entity.
    return tuple(pieces) if len(pieces) > 1 else ()
