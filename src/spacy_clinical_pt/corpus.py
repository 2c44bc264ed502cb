"""Records, the conversion report, and the one builder that turns records into spaCy `Doc`s.

Every converter (`spacy_clinical_pt.convert.*`) reads its format into `Record`s: a document id, its plain
text and its entities as character offsets. `build_docs` is the only place where records become `Doc`s, so
alignment to tokens, validation and discontinuous entities are handled once for every format.

Where things live on a built `Doc`:
- `doc.spans[spans_key]`: one `Span` per entity (or per fragment), nested and overlapping ones included;
  `span.id_` is the entity's id (shared by the fragments of one discontinuous entity).
- `doc.user_data["clinical_pt"]`: `{"doc_id": str, "entities": {id: {"label", "start", "end",
  "fragments", "attributes"}}}`, the source annotation at character level, so that export gives back
  exactly what was read (discontinuous fragments, extra fields such as ER_NER's `Polaridade`).

What the builder checks for every format (strict mode raises `ConversionError`, lenient mode reports and
goes on): a label is a non-empty string (a number or a bool is refused: spaCy would read an int label as a
string hash; lenient mode drops the entity); offsets are integers, not bools; a repeated entity id gets a
fresh id (repaired); an attribute that msgpack cannot store in the DocBin (an integer beyond 64 bits, nesting
deeper than `MAX_ATTRIBUTE_DEPTH`, a value JSON cannot hold) is dropped from its entity; lone surrogates
(half of a UTF-16 pair, which JSON can escape) in any string are replaced by U+FFFD, offsets unchanged
(repaired); a text longer than the tokenizer's `max_length` is a record error.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal, NamedTuple, TypeVar

from spacy.language import Language
from spacy.tokens import Doc, Span

USER_DATA_KEY = "clinical_pt"
DiscontinuousMode = Literal["covering", "fragments"]
AlignmentMode = Literal["expand", "contract"]
EXCERPT_CHARS = 40  # clinical text in messages is limited to a short excerpt
# Attributes are stored in doc.user_data, which DocBin writes with msgpack: its integers are 64-bit and it
# refuses nesting deeper than 512 levels. No real annotation nests attributes anywhere near this deep.
MAX_ATTRIBUTE_DEPTH = 32
INT64_MIN, UINT64_MAX = -(2**63), 2**64 - 1
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
T = TypeVar("T")
# What the commands pass to show a progress bar: (items, description, total or None) -> the items.
Progress = Callable[[Iterable[T], str, "int | None"], Iterable[T]]


class Entity(NamedTuple):
    """One annotated entity at character level.

    start, end: character offsets into the record's text (end exclusive).
    label: the entity type.
    attributes: extra fields of the source annotation (e.g. {"Polaridade": "Negativa"}), kept for export.
    fragments: for a discontinuous entity, its (start, end) pieces in order; empty when contiguous.
    id: the source id (BRAT "T12", SemClinBr tag id), or None to number entities in order.
    origin: where the entity was read ("notes/12.ann line 7"), for error messages.
    """

    start: int
    end: int
    label: str | None
    attributes: dict[str, Any] = {}
    fragments: tuple[tuple[int, int], ...] = ()
    id: str | None = None
    origin: str = ""


class Record(NamedTuple):
    """One document as read from a file: its id, its plain text, and its entities."""

    doc_id: str
    text: str
    entities: list[Entity]
    origin: str = ""


class ConversionError(ValueError):
    """Bad input in strict mode. The message names the file and the line, record or offset."""


def excerpt(text: str, start: int = 0, end: int | None = None) -> str:
    """A short, single-line excerpt of `text[start:end]` for messages (clinical text stays out of logs)."""
    piece = text[start:end].replace("\r", "\\r").replace("\n", "\\n")
    return piece if len(piece) <= EXCERPT_CHARS else piece[: EXCERPT_CHARS - 3] + "..."


def describe(value: Any) -> str:
    """A short description of a value read from a file, for messages: a scalar's repr (excerpt), else its type."""
    if isinstance(value, int) and abs(value) >= 10**EXCERPT_CHARS:
        return "a very long integer"  # repr would exceed the excerpt, or Python's digit limit
    if value is None or isinstance(value, (bool, int, float, str)):
        return excerpt(repr(value))
    return f"a {type(value).__name__}"  # never repr: a container may hold text, or nest too deep to print


def one_line(text: str, limit: int = 200) -> str:
    """`text` with its whitespace runs (newlines too) made single spaces, cut to `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_error(error: BaseException) -> str:
    """`Type: message` of an exception from a library, on one line and at most 200 characters of message.

    For errors of msgpack, zlib, spaCy or the config system: they name offsets, lengths and settings, not note
    text, but a damaged file can make them long or multi-line.
    """
    return f"{type(error).__name__}: {one_line(str(error)) or 'no message'}"


def progress_bar(items: Iterable[T], description: str, total: int | None = None) -> Iterable[T]:
    """`items` behind a tqdm progress bar on stderr, hidden when stderr is not a terminal (a `Progress`)."""
    from tqdm import tqdm

    return tqdm(items, desc=description, total=total, unit="doc", disable=None)


@dataclass
class ConversionReport:
    """What a conversion read, repaired and dropped. Strict mode raises on the first problem instead.

    The JSON form (`to_dict`) has the keys `docs`, `entities`, `entities_per_label`, `misaligned`,
    `repaired`, `dropped`, `errors`, plus `ignored_lines` (BRAT relations, events, notes...) and `notes`
    (e.g. a file decoded as cp1252).
    """

    lenient: bool = False
    docs: int = 0
    entities: int = 0
    entities_per_label: Counter = field(default_factory=Counter)
    misaligned: int = 0
    repaired: list[dict[str, str]] = field(default_factory=list)
    dropped: list[dict[str, str]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    ignored_lines: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def error(self, where: str, message: str) -> None:
        """A record that cannot be read at all: raise in strict mode, else list it and go on."""
        if not self.lenient:
            raise ConversionError(f"{where}: {message}")
        self.errors.append({"where": where, "problem": message})

    def drop(self, where: str, message: str) -> None:
        """An annotation that is skipped: raise in strict mode, else list it as dropped."""
        if not self.lenient:
            raise ConversionError(f"{where}: {message}")
        self.dropped.append({"where": where, "problem": message})

    def repair(self, where: str, message: str) -> None:
        """An annotation changed to fit (e.g. expanded to token boundaries). Never fatal, always listed."""
        self.repaired.append({"where": where, "problem": message})

    def note(self, message: str) -> None:
        """Something the user should know that changes no annotation (e.g. an encoding conversion)."""
        self.notes.append(message)

    def to_dict(self) -> dict[str, Any]:
        return {
            "docs": self.docs,
            "entities": self.entities,
            "entities_per_label": dict(sorted(self.entities_per_label.items())),
            "misaligned": self.misaligned,
            "repaired": self.repaired,
            "dropped": self.dropped,
            "errors": self.errors,
            "ignored_lines": dict(sorted(self.ignored_lines.items())),
            "notes": self.notes,
        }

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2), encoding="utf8")

    def summary(self) -> str:
        """A few lines for the terminal."""
        labels = ", ".join(f"{label} {n}" for label, n in sorted(self.entities_per_label.items()))
        lines = [
            f"{self.docs} documents, {self.entities} entities ({labels})",
            f"misaligned with tokens: {self.misaligned}; repaired: {len(self.repaired)}; "
            f"dropped: {len(self.dropped)}; errors: {len(self.errors)}",
        ]
        if self.ignored_lines:
            lines.append("ignored lines: " + ", ".join(f"{k} {v}" for k, v in sorted(self.ignored_lines.items())))
        lines.extend(f"note: {n}" for n in self.notes)
        for kind, items in (("dropped", self.dropped), ("error", self.errors)):
            lines.extend(f"{kind}: {item['where']}: {item['problem']}" for item in items)
        return "\n".join(lines)


def validate_entity(entity: Entity, text: str, report: ConversionReport) -> bool:
    """Check offsets and label against the text. Problems go to the report (strict mode raises)."""
    where = entity.origin or "entity"
    label = entity.label
    if label is None or (isinstance(label, str) and not label.strip()):
        report.drop(where, f"empty or null label at offsets {describe(entity.start)}-{describe(entity.end)}")
        return False
    if not isinstance(label, str):
        shown = f" {describe(label)}" if isinstance(label, (int, float)) else ""
        report.drop(where, f"the label must be a non-empty string, found {type(label).__name__}{shown}")
        return False
    for start, end in ((entity.start, entity.end), *entity.fragments):
        if not (is_int(start) and is_int(end)):
            report.drop(where, f"offsets are not integers: {describe(start)}-{describe(end)}")
            return False
        if start < 0 or end > len(text):
            report.drop(where, f"offsets {describe(start)}-{describe(end)} beyond the text (length {len(text)})")
            return False
        if start >= end:
            report.drop(where, f"start {start} is not before end {end}")
            return False
    return True


def is_int(value: Any) -> bool:
    """An integer offset: `True` is an int in Python, but never an offset."""
    return isinstance(value, int) and not isinstance(value, bool)


def without_surrogates(value: str) -> str:
    """`value` with every lone surrogate replaced by U+FFFD (one character for one: offsets stay valid)."""
    return value if value.isascii() else LONE_SURROGATE.sub("\ufffd", value)


class _Unstorable(Exception):
    """An attribute value that the DocBin cannot store; the message says why."""


def storable_attributes(attributes: dict[str, Any], where: str, report: ConversionReport) -> dict[str, Any]:
    """The attributes msgpack can store: the others dropped (reported), lone surrogates replaced (repaired)."""
    kept: dict[str, Any] = {}
    repaired: list[str] = []
    for name, value in attributes.items():
        shown = excerpt(name) if isinstance(name, str) else describe(name)
        fixed = [0]
        try:
            if not isinstance(name, str):
                raise _Unstorable(f"its name is {describe(name)}, not a string")
            kept[_storable(name, 0, fixed)] = _storable(value, 0, fixed)
        except _Unstorable as problem:
            report.drop(where, f"attribute '{shown}' not stored: {problem}")
            continue
        if fixed[0]:
            repaired.append(f"'{shown}'")
    if repaired:
        report.repair(where, f"lone surrogates replaced by U+FFFD in attribute {', '.join(repaired)}")
    return kept


def _storable(value: Any, depth: int, fixed: list[int]) -> Any:
    """`value` as msgpack can store it, or `_Unstorable`; `fixed[0]` counts the strings that were repaired."""
    if value is None or isinstance(value, (bool, float)):
        return value
    if isinstance(value, int):
        if not INT64_MIN <= value <= UINT64_MAX:
            raise _Unstorable("an integer beyond the 64-bit range")
        return value
    if isinstance(value, str):
        clean = without_surrogates(value)
        fixed[0] += clean != value
        return clean
    if depth >= MAX_ATTRIBUTE_DEPTH:
        raise _Unstorable(f"nested deeper than {MAX_ATTRIBUTE_DEPTH} levels")
    if isinstance(value, (list, tuple)):
        return [_storable(item, depth + 1, fixed) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise _Unstorable("a key that is not a string")
        return {_storable(k, depth + 1, fixed): _storable(v, depth + 1, fixed) for k, v in value.items()}
    raise _Unstorable(f"{describe(value)} is not a JSON value")


def trim_whitespace(text: str, start: int, end: int) -> tuple[int, int]:
    """Offsets without leading/trailing whitespace: a spaCy span cannot start or end on whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def align_span(doc: Doc, start: int, end: int, label: str, fallback: AlignmentMode) -> tuple[Span | None, bool]:
    """The span for character offsets: exact when they fall on token boundaries, else `fallback`.

    Returns (span or None, aligned_exactly).
    """
    span = doc.char_span(start, end, label=label, alignment_mode="strict")
    if span is not None:
        return span, True
    span = doc.char_span(start, end, label=label, alignment_mode=fallback)
    if span is not None and len(span) == 0:
        span = None
    return span, False


def build_docs(
    nlp: Language,
    records: Iterable[Record],
    report: ConversionReport,
    *,
    spans_key: str = "sc",
    discontinuous: DiscontinuousMode = "covering",
    alignment: AlignmentMode = "expand",
) -> Iterator[Doc]:
    """Turn records into `Doc`s with every valid entity in `doc.spans[spans_key]`.

    nlp: supplies the tokenizer (use `spacy_clinical_pt.tokenizer.clinical_nlp()` for clinical rules).
    discontinuous: "covering" spans first start to last end; "fragments" makes one span per fragment,
        the fragments sharing `span.id_`.
    alignment: what to do with offsets off token boundaries: "expand" to the covering tokens or
        "contract" to the tokens inside. Every such case is counted in `report.misaligned` and listed as
        repaired; an entity left with no token is dropped (and listed).
    """
    if discontinuous not in ("covering", "fragments"):
        raise ValueError(f"discontinuous must be 'covering' or 'fragments', not {discontinuous!r}")
    if alignment not in ("expand", "contract"):
        raise ValueError(f"alignment must be 'expand' or 'contract', not {alignment!r}")
    for record in records:
        record = _record_without_surrogates(record, report)
        if record is None or not _fits_tokenizer(nlp, record, report):
            continue
        doc = nlp.make_doc(record.text)
        spans, stored = _entity_spans(doc, record, report, discontinuous, alignment)
        spans.sort(key=lambda s: (s.start, s.end, s.label_))
        doc.spans[spans_key] = spans
        doc.user_data[USER_DATA_KEY] = {"doc_id": record.doc_id, "entities": stored}
        report.docs += 1
        yield doc


def _entity_spans(
    doc: Doc, record: Record, report: ConversionReport, discontinuous: DiscontinuousMode, alignment: AlignmentMode
) -> tuple[list[Span], dict[str, dict[str, Any]]]:
    """The spans of the record's valid entities on `doc`, and what `USER_DATA_KEY` stores of them (by id)."""
    spans: list[Span] = []
    stored: dict[str, dict[str, Any]] = {}
    entities = [_entity_without_surrogates(entity, report) for entity in record.entities]
    source_ids = {entity.id for entity in entities if entity.id}
    fresh_ids = (f"E{n}" for n in itertools.count(1) if f"E{n}" not in source_ids)
    for entity in entities:
        if not validate_entity(entity, record.text, report):
            continue
        entity_id = entity.id or next(fresh_ids)
        where = entity.origin or f"{record.origin or record.doc_id} entity {entity_id}"
        if entity_id in stored:
            # Two entities under one id would be one in user_data, and export would write one.
            fresh = next(fresh_ids)
            report.repair(where, f"duplicate entity id '{excerpt(entity_id)}'; stored as '{fresh}'")
            entity_id = fresh
        attributes = storable_attributes(entity.attributes, where, report)
        if entity.fragments and discontinuous == "fragments":
            pieces = list(entity.fragments)
        elif entity.fragments:
            pieces = [(min(s for s, _ in entity.fragments), max(e for _, e in entity.fragments))]
        else:
            pieces = [(entity.start, entity.end)]
        aligned = (_piece_span(doc, entity, piece, where, alignment, report) for piece in pieces)
        entity_spans = [span for span in aligned if span is not None]
        if not entity_spans:
            continue
        for span in entity_spans:
            span.id_ = entity_id
        spans.extend(entity_spans)
        report.entities += 1
        report.entities_per_label[entity.label] += 1
        stored[entity_id] = {
            "label": entity.label,
            "start": entity.start,
            "end": entity.end,
            "fragments": [list(f) for f in entity.fragments],
            "attributes": attributes,
        }
    return spans, stored


def _piece_span(
    doc: Doc, entity: Entity, piece: tuple[int, int], where: str, alignment: AlignmentMode, report: ConversionReport
) -> Span | None:
    """The span of one (start, end) piece of an entity: whitespace trimmed and offsets aligned to tokens
    (repaired), or None when nothing of it is left (dropped)."""
    text = doc.text
    start, end = piece
    trimmed = trim_whitespace(text, start, end)
    if trimmed != (start, end):
        report.repair(where, f"whitespace trimmed from {start}-{end} to {trimmed[0]}-{trimmed[1]}")
        start, end = trimmed
    if start == end:
        report.drop(where, f"{excerpt(entity.label)} at {start}-{end} holds only whitespace")
        return None
    span, exact = align_span(doc, start, end, entity.label, alignment)
    if exact:
        return span
    report.misaligned += 1
    shown = f"{excerpt(entity.label)} at {start}-{end} ('{excerpt(text, start, end)}')"
    if span is None:
        report.drop(where, f"{shown} covers no whole token ({alignment})")
        return None
    report.repair(where, f"{shown} moved to token boundaries {span.start_char}-{span.end_char} ({alignment})")
    return span


def _record_without_surrogates(record: Record, report: ConversionReport) -> Record | None:
    """The record with lone surrogates replaced in its text and id (repaired); None for a text not a string."""
    where = record.origin or str(record.doc_id)
    if not isinstance(record.text, str):
        report.error(where, f"the text is not a string (found {type(record.text).__name__})")
        return None
    text, identifier = without_surrogates(record.text), without_surrogates(str(record.doc_id))
    if text != record.text or identifier != str(record.doc_id):
        report.repair(where, "lone surrogates (half of a UTF-16 pair) replaced by U+FFFD; offsets unchanged")
    return record._replace(text=text, doc_id=identifier)


def _fits_tokenizer(nlp: Language, record: Record, report: ConversionReport) -> bool:
    """False (a record error) for a text over `nlp.max_length`, which `make_doc` and `spacy train` refuse."""
    if len(record.text) <= nlp.max_length:
        return True
    report.error(
        record.origin or record.doc_id,
        f"the text has {len(record.text)} characters, over the tokenizer's max_length {nlp.max_length}",
    )
    return False


def _entity_without_surrogates(entity: Entity, report: ConversionReport) -> Entity:
    """The entity with lone surrogates replaced in its label and id (repaired)."""
    changes = {
        name: without_surrogates(value)
        for name, value in (("label", entity.label), ("id", entity.id))
        if isinstance(value, str) and without_surrogates(value) != value
    }
    if not changes:
        return entity
    report.repair(entity.origin or "entity", f"lone surrogates replaced by U+FFFD in the {' and '.join(changes)}")
    return entity._replace(**changes)


def _stored(doc: Doc) -> dict[str, Any]:
    """What `build_docs` stored on `doc`; {} for a doc from elsewhere (another tool may use the key otherwise)."""
    stored = doc.user_data.get(USER_DATA_KEY)
    return stored if isinstance(stored, dict) else {}


def doc_id(doc: Doc) -> str | None:
    """The source document id stored by `build_docs`, or None."""
    value = _stored(doc).get("doc_id")
    return None if value is None else str(value)


def entity_attributes(doc: Doc) -> dict[str, dict[str, Any]]:
    """The character-level source annotation stored by `build_docs`, keyed by entity id."""
    entities = _stored(doc).get("entities")
    if not isinstance(entities, dict):
        return {}
    return {key: value for key, value in entities.items() if isinstance(value, dict)}
