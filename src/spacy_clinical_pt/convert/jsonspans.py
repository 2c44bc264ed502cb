"""JSON spans: a JSON list (or JSONL) of `{"text", "annotations": [{"begin"|"start", "end", "label", ...}]}`.

This is the ER_NER layout (`doc_id`, `text` with `\\r\\n` line ends, `annotations` whose extra fields such as
`Polaridade` are kept as entity attributes). An annotation may also carry `"fragments": [[start, end], ...]`
(written by `export_jsonspans` for discontinuous entities), so BRAT -> JSON -> BRAT keeps them.

Nothing is ignored silently: record fields this format does not read are listed in one note per file, and a
record whose only span-like items are under another key (`"entities": [{"start", "end", ...}]`) is an error.

The helpers (`iter_json_objects`, `check_offsets`, `UnreadFields`...) are shared with the Doccano and Argilla
readers.
"""

from __future__ import annotations

import json
import re
import sys
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ..corpus import ConversionError, ConversionReport, Entity, Record, describe, excerpt, is_int
from .encoding import line_of, read_text, split_lines

START_KEYS = ("begin", "start")
# Keys that are the annotation itself; everything else is an attribute that export writes back.
CORE_KEYS = frozenset(("begin", "start", "end", "label", "fragments"))
RECORD_FIELDS = frozenset(("text", "annotations", "doc_id", "id"))
# Tokens of JSON text, enough to find where a parse failed for lack of depth or digits (not a validator).
JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[{]|[\]}]|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?')


class JSONProblem(Exception):
    """JSON text that cannot be parsed: `line` (1-based, in the text parsed) and a short reason."""

    def __init__(self, line: int, reason: str, malformed: bool = True):
        super().__init__(reason)
        self.line, self.reason, self.malformed = line, reason, malformed


def _recording_hook(repeated: dict[int, tuple[str, ...]]) -> Callable[[list[tuple[str, Any]]], dict]:
    """A `json.loads` object hook building plain dicts and noting, under the dict's id, the keys it held more
    than once (Python keeps the last value of each, so the others would be lost without a word)."""

    def hook(pairs: list[tuple[str, Any]]) -> dict:
        value = dict(pairs)
        if len(value) < len(pairs):
            seen: set[str] = set()
            repeated[id(value)] = tuple(dict.fromkeys(k for k, _ in pairs if k in seen or seen.add(k)))
        return value

    return hook


def repeated_keys(value: Any, repeated: dict[int, tuple[str, ...]]) -> list[str]:
    """The dotted paths (`annotations.2.label`) of the keys noted by `_recording_hook` in `value`, in document
    order; iterative, as a value may nest hundreds of levels deep."""
    found: list[str] = []
    stack: list[tuple[str, Any]] = [("", value)]
    while repeated and stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            found += [f"{path}{key}" for key in repeated.get(id(item), ())]
            stack += [(f"{path}{key}.", child) for key, child in reversed(item.items())]
        elif isinstance(item, list):
            stack += [(f"{path}{index}.", child) for index, child in reversed(list(enumerate(item)))]
    return found


def parse_json(text: str, repeated: dict[int, tuple[str, ...]] | None = None) -> Any:
    """`json.loads(text)`, with every failure as a `JSONProblem` naming the line.

    Besides malformed JSON, Python's parser fails on nesting deeper than its recursion limit and on
    integers longer than `sys.get_int_max_str_digits()`; both are found in the text to name the line.
    repeated: a dict that receives, per object holding a key more than once, those keys (see `repeated_keys`).
    """
    try:
        return json.loads(text, object_pairs_hook=None if repeated is None else _recording_hook(repeated))
    except json.JSONDecodeError as err:
        raise JSONProblem(err.lineno, f"(column {err.colno}): {err.msg}") from None
    except RecursionError:
        raise _too_deep(text) from None
    except ValueError as err:  # the only other ValueError json raises: an integer with too many digits
        raise _too_long_integer(text, err) from None


def _too_deep(text: str) -> JSONProblem:
    """Where `text` nests deepest (its first point at that depth)."""
    depth = deepest = at = 0
    for token in JSON_TOKEN.finditer(text):
        if token.group() in ("[", "{"):
            depth += 1
            if depth > deepest:
                deepest, at = depth, token.start()
        elif token.group() in ("]", "}"):
            depth -= 1
    return JSONProblem(line_of(text, at), f"JSON nested too deeply ({deepest} levels)", malformed=False)


def _too_long_integer(text: str, err: ValueError) -> JSONProblem:
    """Where `text` holds the first integer longer than Python converts."""
    limit = sys.get_int_max_str_digits()
    for token in JSON_TOKEN.finditer(text):
        digits = token.group().lstrip("-")
        if digits.isdigit() and len(digits) > limit:
            reason = f"an integer of {len(digits)} digits (Python reads at most {limit})"
            return JSONProblem(line_of(text, token.start()), reason, malformed=False)
    return JSONProblem(1, f"unreadable JSON ({excerpt(str(err))})", malformed=False)


def iter_json_objects(
    path: Path, report: ConversionReport, encoding: str | None = None
) -> Iterator[tuple[str, Any]]:
    """The records of a JSON list, a single JSON object, or JSONL (one object per line).

    Yields (where, value): `where` names the file and record ("data.json record 3", 1-based) or JSONL
    line ("data.jsonl:line 3"), `value` is the parsed JSON value (not checked to be an object).
    A JSON list that cannot be parsed is an error naming the line; a bad JSONL line is an error for that
    line only (lenient mode goes on with the next line). JSONL is split at line ends only (`\\n`, `\\r\\n`,
    `\\r`), never at the other characters `str.splitlines` splits at, which JSON strings may hold.
    """
    path = Path(path)
    if not path.exists():
        raise ConversionError(f"{path}: no such file")
    if path.is_dir():
        raise ConversionError(f"{path}: is a folder; this format reads one JSON or JSONL file")
    text = read_text(path, report, encoding)
    if not text.strip():
        return  # read_text has reported the empty file
    if path.suffix.lower() != ".jsonl":
        repeated: dict[int, tuple[str, ...]] = {}
        try:
            whole = parse_json(text, repeated)
        except JSONProblem as problem:
            if text.lstrip().startswith("["):
                # A JSON list that does not parse cannot be split into records: nothing can be read.
                reason = f"malformed JSON {problem.reason}" if problem.malformed else problem.reason
                report.error(f"{path}:line {problem.line}", reason)
                return
            # Otherwise several values, one per line: JSON Lines.
        else:
            for number, value in enumerate(whole if isinstance(whole, list) else [whole], start=1):
                if _unique_keys(f"{path} record {number}", repeated_keys(value, repeated), report):
                    yield f"{path} record {number}", value
            return
    for number, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            continue
        repeated = {}
        try:
            value = parse_json(line, repeated)
        except JSONProblem as problem:
            reason = f"malformed JSON line {problem.reason}" if problem.malformed else problem.reason
            report.error(f"{path}:line {number}", reason)
            continue
        if _unique_keys(f"{path}:line {number}", repeated_keys(value, repeated), report):
            yield f"{path}:line {number}", value


def _unique_keys(where: str, repeated: list[str], report: ConversionReport) -> bool:
    """True when no object in the record holds a key twice (`repeated`: their paths); else the record is an error
    (strict mode raises): of a repeated key only the last value would be read, the others lost."""
    if not repeated:
        return True
    more = f" (and {len(repeated) - 1} more)" if len(repeated) > 1 else ""
    report.error(where, f"key {repeated[0]!r} appears twice in one object{more}: only its last value would be "
                        "read; give each key once")
    return False


def int_offset(value: Any) -> int | None:
    """`value` when it is a JSON integer (not a bool, not a float, not a string), else None."""
    return value if is_int(value) else None


def check_offsets(where: str, start: Any, end: Any, report: ConversionReport) -> tuple[int, int] | None:
    """Both offsets as integers, or None after reporting the annotation as dropped (strict mode raises)."""
    if start is None or end is None:
        report.drop(where, "annotation without start or end offset")
        return None
    if int_offset(start) is None or int_offset(end) is None:
        report.drop(where, f"offsets are not integers: {describe(start)}-{describe(end)}")
        return None
    return start, end


def one_of(where: str, annotation: dict[str, Any], keys: tuple[str, ...], report: ConversionReport) -> tuple[bool, Any]:
    """(True, the value of whichever of `keys` the annotation has, or None), or (False, None) after
    reporting two of them with different values (which one is meant cannot be known)."""
    present = [key for key in keys if key in annotation]
    values = [annotation[key] for key in present]
    if any(type(v) is not type(values[0]) or not isinstance(v, (int, str)) or v != values[0] for v in values[1:]):
        report.drop(where, f"both {' and '.join(repr(k) for k in present)} given, with different values")
        return False, None
    return True, values[0] if values else None


def record_text(where: str, obj: Any, key: str, report: ConversionReport) -> str | None:
    """The document text `obj[key]`, or None after reporting the record as an error."""
    if not isinstance(obj, dict):
        report.error(where, f"expected a JSON object, found {type(obj).__name__}")
        return None
    text = obj.get(key)
    if not isinstance(text, str):
        found = "missing" if key not in obj else f"found {type(text).__name__}"
        report.error(where, f"the {key!r} field must be a string ({found})")
        return None
    if not text.strip():
        report.error(where, "the text is empty")
        return None
    return text


def text_records(
    path: Path, report: ConversionReport, encoding: str | None
) -> Iterator[tuple[int, str, dict[str, Any], str]]:
    """(number, where, object, text) of each record of a JSON or JSONL file with a `text` string; the other
    records are reported as errors (strict mode raises). encoding: as in `iter_json_objects`."""
    for number, (where, obj) in enumerate(iter_json_objects(path, report, encoding), start=1):
        text = record_text(where, obj, "text", report)
        if text is not None:
            yield number, where, obj, text


def annotation_entities(
    where: str, annotations: Iterable[Any], read_entity: Callable[[str, Any, ConversionReport], Entity | None],
    report: ConversionReport,
) -> list[Entity]:
    """The entities of a record's annotations, each read by `read_entity(where, annotation, report)` (None for
    one it reported); `where` names the record, each annotation is "WHERE annotation N"."""
    entities = []
    for index, annotation in enumerate(annotations, start=1):
        entity = read_entity(f"{where} annotation {index}", annotation, report)
        if entity is not None:
            entities.append(entity)
    return entities


def record_id(
    where: str, obj: dict[str, Any], keys: tuple[str, ...], path: Path, number: int, report: ConversionReport
) -> str:
    """The record's own id (first of `keys` present), else "<file stem>-<number>".

    An id that is not a string or a number (a list, an object, a bool) is replaced by the number (repaired).
    """
    fallback = f"{path.stem}-{number}"
    for key in keys:
        value = obj.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            report.repair(where, f"the id is a {type(value).__name__}, not a string or number; numbered {fallback}")
            return fallback
        return str(value)
    return fallback


# How deep `looks_like_spans` searches a field the reader does not read: Argilla nests spans four levels down.
SPAN_SEARCH_DEPTH = 6


def looks_like_spans(value: Any, depth: int = 0) -> bool:
    """A non-empty list with a span-like item (an object with start- and end-like keys, or a
    `[start, end, label]`/`[label, start, end]` list), or such a list nested in objects and lists (as Argilla
    nests its responses), down to `SPAN_SEARCH_DEPTH` levels."""
    if isinstance(value, list) and any(_span_like(item) for item in value):
        return True
    if depth and _span_like(value):  # one span, nested: {"a": [1, 2, "Problema"]}
        return True
    if depth >= SPAN_SEARCH_DEPTH or not isinstance(value, (list, dict)):
        return False
    return any(looks_like_spans(item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))


def _span_like(item: Any) -> bool:
    if isinstance(item, dict):
        keys = [key.lower() for key in item if isinstance(key, str)]
        return any("start" in k or "begin" in k for k in keys) and any("end" in k for k in keys)
    if isinstance(item, list) and len(item) in (3, 4):
        return sum(int_offset(v) is not None for v in item) >= 2 and any(isinstance(v, str) for v in item)
    return False


class UnreadFields:
    """The record fields a reader does not read, noted once per file, so that nothing is ignored silently.

    path: the file, to name it in the note and to shorten each record's `where` there.
    """

    def __init__(self, path: Path):
        self.path = path
        self.fields: dict[str, list[Any]] = {}  # key -> [records, first where, holds span-like items]

    def add(self, where: str, obj: dict[str, Any], read: Iterable[str]) -> list[str]:
        """Count the fields of `obj` not in `read` (empty values aside); return those holding span-like items."""
        read = set(read)
        span_like = []
        for key, value in obj.items():
            if key in read or value in (None, "") or (isinstance(value, (list, dict)) and not value):
                continue
            entry = self.fields.setdefault(key, [0, where[len(str(self.path)) :].lstrip(": "), False])
            entry[0] += 1
            if looks_like_spans(value):
                entry[2] = True
                span_like.append(key)
        return span_like

    def note(self, report: ConversionReport) -> None:
        """Add the note for this file (none when every field was read)."""
        if not self.fields:
            return
        listed = ", ".join(
            f"'{excerpt(key)}' in {records} record(s) (first: {first}{'; span-like' if spans else ''})"
            for key, (records, first, spans) in sorted(self.fields.items())
        )
        report.note(f"{self.path}: fields not read: {listed}")


def unread_spans(where: str, keys: Iterable[str], span_keys: list[str], read_some: bool, report: ConversionReport) -> bool:
    """Report span-like items under `span_keys`, which the reader does not read; True when the record goes on.

    keys: the keys the format reads annotations from. read_some: whether the record has annotations there; with
    none, the record is an error (skipped); with some, the unread items are dropped (strict mode raises both).
    """
    read = " or ".join(f"'{key}'" for key in keys)
    found = ", ".join(f"'{excerpt(key)}'" for key in span_keys)
    if not read_some:
        report.error(where, f"nothing under {read}, but {found} holds span-like items (this format reads only {read})")
        return False
    report.drop(where, f"span-like items under {found} not read (this format reads only {read})")
    return True


def read_jsonspans(path: Path, report: ConversionReport, *, encoding: str | None = None) -> Iterator[Record]:
    """Records from a JSON spans file (ER_NER layout).

    path: a `.json` file (list of records, or one record) or a `.jsonl` file (one record per line).
    encoding: the file's encoding; default UTF-8 with a cp1252/latin-1 fallback (reported).
    Each entity's origin is "FILE record N annotation M". A null or empty label is passed on, and
    reported (dropped, or an error in strict mode) by the shared builder.
    """
    path = Path(path)
    unread = UnreadFields(path)
    for number, where, obj, text in text_records(path, report, encoding):
        span_keys = unread.add(where, obj, RECORD_FIELDS)
        annotations = obj.get("annotations", [])
        if not isinstance(annotations, list):
            report.error(where, f"'annotations' must be a list, found {type(annotations).__name__}")
            continue
        if span_keys and not unread_spans(where, ("annotations",), span_keys, bool(annotations), report):
            continue
        entities = annotation_entities(where, annotations, partial(_annotation_entity, text=text), report)
        yield Record(record_id(where, obj, ("doc_id", "id"), path, number, report), text, entities, where)
    unread.note(report)


def _annotation_entity(where: str, annotation: Any, report: ConversionReport, *, text: str) -> Entity | None:
    """One annotation object as an Entity; format problems are reported (strict mode raises)."""
    if not isinstance(annotation, dict):
        report.drop(where, f"expected an annotation object, found {type(annotation).__name__}")
        return None
    unique, start = one_of(where, annotation, START_KEYS, report)
    if not unique:
        return None
    offsets = check_offsets(where, start, annotation.get("end"), report)
    if offsets is None:
        return None
    fragments: tuple[tuple[int, int], ...] = ()
    if "fragments" in annotation:
        fragments = _fragments(where, annotation["fragments"], offsets, report)
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


def _fragments(
    where: str, value: Any, offsets: tuple[int, int], report: ConversionReport
) -> tuple[tuple[int, int], ...] | None:
    """A `fragments` field (`[[start, end], ...]`) as a tuple, or None after reporting it."""
    if not isinstance(value, list) or not all(isinstance(f, list) and len(f) == 2 for f in value):
        report.drop(where, "'fragments' must be a list of [start, end] pairs")
        return None
    pieces = []
    for start, end in value:
        piece = check_offsets(where, start, end, report)
        if piece is None:
            return None
        pieces.append(piece)
    if len(pieces) == 1 and pieces[0] != offsets:
        # One fragment is just a contiguous entity, but not if it disagrees with the entity's offsets.
        (start, end), (begin, last) = pieces[0], offsets
        report.drop(where, f"one fragment {start}-{end} that is not begin-end {begin}-{last}")
        return None
    return tuple(pieces) if len(pieces) > 1 else ()
