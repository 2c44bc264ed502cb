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
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, NamedTuple

from spacy.language import Language
from spacy.tokens import Doc, Span

USER_DATA_KEY = "clinical_pt"
DiscontinuousMode = Literal["covering", "fragments"]
AlignmentMode = Literal["expand", "contract"]
EXCERPT_CHARS = 40  # clinical text in messages is limited to a short excerpt


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
    pieces = entity.fragments or ((entity.start, entity.end),)
    if entity.label is None or not str(entity.label).strip():
        report.drop(where, f"empty or null label at offsets {entity.start}-{entity.end}")
        return False
    for start, end in pieces:
        if not (isinstance(start, int) and isinstance(end, int)):
            report.drop(where, f"offsets are not integers: {start!r}-{end!r}")
            return False
        if start < 0 or end > len(text):
            report.drop(where, f"offsets {start}-{end} beyond the text (length {len(text)})")
            return False
        if start >= end:
            report.drop(where, f"start {start} is not before end {end}")
            return False
    return True


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
        doc = nlp.make_doc(record.text)
        spans: list[Span] = []
        stored: dict[str, dict[str, Any]] = {}
        source_ids = {entity.id for entity in record.entities if entity.id}
        fresh_ids = (f"E{n}" for n in itertools.count(1) if f"E{n}" not in source_ids)
        for entity in record.entities:
            if not validate_entity(entity, record.text, report):
                continue
            entity_id = entity.id or next(fresh_ids)
            if entity.fragments and discontinuous == "fragments":
                pieces = list(entity.fragments)
            elif entity.fragments:
                pieces = [(min(s for s, _ in entity.fragments), max(e for _, e in entity.fragments))]
            else:
                pieces = [(entity.start, entity.end)]
            entity_spans = []
            where = entity.origin or f"{record.origin or record.doc_id} entity {entity_id}"
            for start, end in pieces:
                trimmed = trim_whitespace(record.text, start, end)
                if trimmed != (start, end):
                    report.repair(where, f"whitespace trimmed from {start}-{end} to {trimmed[0]}-{trimmed[1]}")
                    start, end = trimmed
                if start == end:
                    report.drop(where, f"{entity.label} at {start}-{end} holds only whitespace")
                    continue
                span, exact = align_span(doc, start, end, entity.label, alignment)
                if not exact:
                    report.misaligned += 1
                    if span is None:
                        report.drop(
                            where,
                            f"{entity.label} at {start}-{end} ('{excerpt(record.text, start, end)}') "
                            f"covers no whole token ({alignment})",
                        )
                        continue
                    report.repair(
                        where,
                        f"{entity.label} at {start}-{end} ('{excerpt(record.text, start, end)}') "
                        f"moved to token boundaries {span.start_char}-{span.end_char} ({alignment})",
                    )
                span.id_ = entity_id
                entity_spans.append(span)
            if not entity_spans:
                continue
            spans.extend(entity_spans)
            report.entities += 1
            report.entities_per_label[entity.label] += 1
            stored[entity_id] = {
                "label": entity.label,
                "start": entity.start,
                "end": entity.end,
                "fragments": [list(f) for f in entity.fragments],
                "attributes": dict(entity.attributes),
            }
        spans.sort(key=lambda s: (s.start, s.end, s.label_))
        doc.spans[spans_key] = spans
        doc.user_data[USER_DATA_KEY] = {"doc_id": record.doc_id, "entities": stored}
        report.docs += 1
        yield doc


def doc_id(doc: Doc) -> str | None:
    """The source document id stored by `build_docs`, or None."""
    return doc.user_data.get(USER_DATA_KEY, {}).get("doc_id")


def entity_attributes(doc: Doc) -> dict[str, dict[str, Any]]:
    """The character-level source annotation stored by `build_docs`, keyed by entity id."""
    return doc.user_data.get(USER_DATA_KEY, {}).get("entities", {})
