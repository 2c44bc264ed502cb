"""Writing documents back out: BRAT standoff (character offsets) and JSON spans (ER_NER layout).

Both exports work for gold documents built by `convert` and for model predictions alike:
- a span whose `span.id_` names a source entity stored by `build_docs` (`doc.user_data["clinical_pt"]`)
  is written as that entity was read: its original offsets, its discontinuous fragments (several spans
  sharing the id become one entity again), its extra attributes (ER_NER's `Polaridade`), its BRAT id;
- any other span (a prediction) is written from its own character offsets, with a fresh id, and with its
  confidence when the span group carries `attrs["scores"]`; and with its assertion when the pipeline's
  `clinical_context` set one (`predicted_assertion`): in BRAT one attribute line per flag
  (`context.gold.FLAG_ATTRIBUTES`: `A1 Negation T3`, `A2 Certainty T3 Speculated`...), in JSON spans
  `"assertion"` and the five flags (`"is_negated": true`...).
So convert -> export gives back the same annotations, and a model's output can be loaded into BRAT.

Nothing is written that the converters could not read back: a document without text, an entity with an
empty label, offsets outside the text or over whitespace only, attribute values that are not valid Unicode
are a `ConversionError` naming the document, raised before any file is written. A folder or file that
cannot be written is a `ConversionError` naming the path. Existing files are overwritten.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, NamedTuple

from spacy.tokens import Doc, Span

from .convert.brat import text_column
from .corpus import ConversionError, doc_id, entity_attributes, is_int

# The span extensions `clinical_context` sets, as written for a prediction (context/__init__.py).
ASSERTION_FLAGS = ("is_negated", "is_uncertain", "is_historical", "is_hypothetical", "is_family")

BRAT_ID = re.compile(r"T(\d+)$", re.ASCII)
UNSAFE_NAME = re.compile(r"[^\w.\-/]+")
NUMERIC_ID = re.compile(r"(0|[1-9]\d{0,17})$", re.ASCII)  # ids written as JSON numbers read back the same
# Valid in JSON strings, but line ends for str.splitlines() and JavaScript: written escaped.
JSON_ESCAPES = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}


class ExportedEntity(NamedTuple):
    """One entity to write: its label, its (start, end) fragments, its attributes, source id and score.

    assertion: a prediction's `{"assertion": "absent", "is_negated": True, ...}` (`predicted_assertion`), or None.
    """

    label: str
    fragments: tuple[tuple[int, int], ...]
    attributes: dict[str, Any]
    id: str | None = None
    score: float | None = None
    assertion: dict[str, Any] | None = None

    @property
    def start(self) -> int:
        return min(start for start, _ in self.fragments)

    @property
    def end(self) -> int:
        return max(end for _, end in self.fragments)


class ExportSummary(NamedTuple):
    """What an export wrote: documents and entities, and the attributes the format could not hold.

    skipped_attributes: attribute name -> how many entities kept it out of the output (a BRAT attribute must be
        `True` or a word; a JSON attribute named like an offset, the label or the score would overwrite it).
    """

    docs: int
    entities: int
    skipped_attributes: Counter = Counter()


def predicted_assertion(span: Span) -> dict[str, Any] | None:
    """`{"assertion": ..., "is_negated": ..., ...}` of a span that `clinical_context` qualified, else None.

    None too when the extensions are registered but nothing set them on this doc (a pipeline without the
    component): their defaults would claim "present" for spans nobody looked at.
    """
    if not Span.has_extension("assertion"):
        return None
    # spaCy keeps a span extension's value in user data under this key once it is set.
    if ("._.", "assertion", span.start_char, span.end_char) not in span.doc.user_data:
        return None
    values = {"assertion": span._.assertion}
    values.update({flag: bool(span._.get(flag)) for flag in ASSERTION_FLAGS if Span.has_extension(flag)})
    return values


def document_entities(doc: Doc, spans_key: str = "sc") -> list[ExportedEntity]:
    """The entities of `doc.spans[spans_key]`: stored source entities first (in source order), then the rest.

    A span counts as a stored entity when its `id_` names one in the doc's user data with the same label;
    the fragments of a discontinuous entity (spans sharing that id) give one entity.
    """
    if spans_key not in doc.spans:
        return []
    group = doc.spans[spans_key]
    scores = group.attrs.get("scores")
    if scores is not None and len(scores) != len(group):
        scores = None  # scores that do not line up with the spans cannot be attributed
    stored = entity_attributes(doc)
    present: set[str] = set()
    fresh: list[ExportedEntity] = []
    for index, span in enumerate(group):
        source = stored.get(span.id_) if span.id_ else None
        if source is not None and source["label"] == span.label_:
            present.add(span.id_)
            continue
        score = float(scores[index]) if scores is not None else None
        assertion = predicted_assertion(span)
        fresh.append(ExportedEntity(span.label_, ((span.start_char, span.end_char),), {}, None, score, assertion))
    entities = [
        ExportedEntity(
            source["label"],
            tuple(tuple(f) for f in source["fragments"]) or ((source["start"], source["end"]),),
            dict(source["attributes"]),
            entity_id,
        )
        for entity_id, source in stored.items()
        if entity_id in present
    ]
    return entities + sorted(fresh, key=lambda e: (e.start, e.end, e.label))


def export_brat(docs: Iterable[Doc], out_dir: str | Path, spans_key: str = "sc") -> ExportSummary:
    """Write `<doc_id>.txt` and `<doc_id>.ann` for every document into `out_dir`.

    docs: documents with entities in `doc.spans[spans_key]` (gold from `convert`, or predicted).
    out_dir: the folder to write (created); a document id with `/` writes into a subfolder.
    BRAT labels cannot hold spaces: a label such as "Medicação Habitual" is written "Medicação_Habitual".
    Attributes with a one-word value (or `True`) are written as `A` lines.
    File names are unique without regard to case ("Nota", "nota-2"), as on macOS and Windows.
    """
    docs = list(docs)
    _check_key(len(docs), sum(spans_key in doc.spans for doc in docs), spans_key)
    out_dir = Path(out_dir)
    names: set[str] = set()
    files: list[tuple[str, bytes, bytes]] = []  # everything is checked before the first file is written
    entities_written = 0
    skipped: Counter = Counter()
    for number, doc in enumerate(docs, start=1):
        identifier = doc_id(doc) or f"doc{number:05d}"
        entities = _checked_entities(doc, f"doc {number} ({identifier})", spans_key)
        if doc.text.startswith("\ufeff"):
            # its UTF-8 bytes are a byte-order mark, which reading removes: every offset would move by one
            raise ConversionError(f"doc {number} ({identifier}): the text begins with U+FEFF (a byte-order mark)")
        try:
            ann = "".join(line + "\n" for line in _brat_lines(doc.text, entities, skipped)).encode("utf8")
        except UnicodeEncodeError:  # an attribute value from user data that is not valid Unicode
            raise ConversionError(f"doc {number} ({identifier}): cannot be written as UTF-8") from None
        # The text keeps its line ends byte for byte: offsets count "\r\n" as two characters.
        files.append((_file_name(identifier, names), doc.text.encode("utf8"), ann))
        entities_written += len(entities)
    _make_folder(out_dir, out_dir, "the BRAT folder")
    for name, text, ann in files:
        for path, data in ((out_dir / f"{name}.txt", text), (out_dir / f"{name}.ann", ann)):
            _make_folder(path.parent, path, "the BRAT file")
            _write(path, data, "the BRAT file")
    return ExportSummary(len(files), entities_written, skipped)


def _checked_entities(doc: Doc, where: str, spans_key: str) -> list[ExportedEntity]:
    """`document_entities`, once the document and each entity are known to read back (else ConversionError)."""
    text = doc.text
    if not text.strip():
        raise ConversionError(f"{where} has no text; the converters refuse an empty note")
    entities = document_entities(doc, spans_key)
    for entity in entities:
        shown = ";".join(f"{start}-{end}" for start, end in entity.fragments)
        if not isinstance(entity.label, str) or not entity.label.strip():
            raise ConversionError(f"{where} entity at {shown} has an empty label")
        for start, end in entity.fragments:
            if not (is_int(start) and is_int(end) and 0 <= start < end <= len(text)):
                raise ConversionError(f"{where} entity at {shown} is no span of the text (length {len(text)})")
            if not text[start:end].strip():
                raise ConversionError(f"{where} entity at {shown} holds only whitespace")
    return entities


def _brat_lines(text: str, entities: list[ExportedEntity], skipped: Counter) -> list[str]:
    """The `T` (and `A`) lines for one document: source ids kept, fresh ids after the highest one.

    skipped: counts, per name, the attributes that an `A` line cannot hold (not `True`, not one word).
    """
    used = {e.id for e in entities if e.id and BRAT_ID.match(e.id)}
    next_number = max((int(BRAT_ID.match(i).group(1)) for i in used), default=0) + 1
    lines: list[str] = []
    attribute_number = 1
    for entity in entities:
        if entity.id in used:
            brat_id = entity.id
        else:
            brat_id = f"T{next_number}"
            next_number += 1
        offsets = ";".join(f"{start} {end}" for start, end in entity.fragments)
        lines.append(f"{brat_id}\t{_brat_label(entity.label)} {offsets}\t{text_column(text, entity.fragments)}")
        for name, value in {**entity.attributes, **_assertion_attributes(entity.assertion)}.items():
            if value is True:
                lines.append(f"A{attribute_number}\t{_brat_label(name)} {brat_id}")
            elif isinstance(value, str) and value and not any(c.isspace() for c in value):
                lines.append(f"A{attribute_number}\t{_brat_label(name)} {brat_id} {value}")
            else:
                skipped[name] += value is not False  # False is an attribute's absence in BRAT
                continue
            attribute_number += 1
    return lines


def _assertion_attributes(assertion: dict[str, Any] | None) -> dict[str, Any]:
    """The BRAT attributes of a prediction's assertion flags: `{"Negation": True, "Certainty": "Speculated"}`."""
    from .context.gold import FLAG_ATTRIBUTES

    if not assertion:
        return {}
    return dict(FLAG_ATTRIBUTES[flag] for flag in ASSERTION_FLAGS if assertion.get(flag))


def export_jsonspans(
    docs: Iterable[Doc], path: str | Path, spans_key: str = "sc", start_key: str = "begin"
) -> ExportSummary:
    """Write the documents as JSON spans: `[{"doc_id", "text", "annotations": [...]}]` (ER_NER layout).

    docs: documents with entities in `doc.spans[spans_key]` (gold from `convert`, or predicted).
    path: a `.json` file (one JSON list) or a `.jsonl` file (one document per line).
    start_key: the name of the start offset, "begin" as in ER_NER (or "start").
    Each annotation is `{start_key, "end", "label", **attributes}`, plus `"fragments": [[start, end], ...]`
    for a discontinuous entity, `"score"` for a prediction with a confidence, and `"assertion"` with the five
    flags (`"is_negated"`...) for a prediction `clinical_context` qualified. A numeric document id
    is written as a number, as ER_NER has it, unless the number would read back differently ("007").
    U+2028, U+2029 and U+0085 are written escaped, so that no tool splits a JSONL line at them.
    """
    path = Path(path)
    records = []
    with_key = 0
    entities_written = 0
    skipped: Counter = Counter()
    core = {start_key, "end", "label", "fragments", "score"}  # written from the entity, never from an attribute
    for number, doc in enumerate(docs, start=1):
        with_key += spans_key in doc.spans
        identifier = doc_id(doc) or str(number)
        where = f"doc {number} ({identifier})"
        annotations = []
        for entity in _checked_entities(doc, where, spans_key):
            annotation: dict[str, Any] = {k: v for k, v in entity.attributes.items() if k not in core}
            skipped.update(k for k in entity.attributes if k in core)
            annotation.update({start_key: entity.start, "end": entity.end, "label": entity.label})
            if len(entity.fragments) > 1:
                annotation["fragments"] = [list(f) for f in entity.fragments]
            if entity.score is not None:
                annotation["score"] = entity.score
            annotation.update(entity.assertion or {})
            annotations.append(annotation)
        record = {
            "doc_id": int(identifier) if NUMERIC_ID.match(identifier) else identifier,
            "text": doc.text,
            "annotations": annotations,
        }
        try:
            line = json.dumps(record, ensure_ascii=False)
            line.encode("utf8")
        except UnicodeEncodeError:  # an attribute value from user data that is not valid Unicode
            raise ConversionError(f"{where}: cannot be written as UTF-8") from None
        except (TypeError, ValueError) as err:  # attributes from user data that are no JSON values
            raise ConversionError(f"{where}: cannot be written as JSON ({err})") from None
        for character, escaped in JSON_ESCAPES.items():
            line = line.replace(character, escaped)  # these only occur inside JSON strings
        records.append(line)
        entities_written += len(annotations)
    _check_key(len(records), with_key, spans_key)
    if path.suffix == ".jsonl":
        content = "".join(line + "\n" for line in records)
    else:
        content = "[" + ", ".join(records) + "]"
    _make_folder(path.parent, path, "the JSON file")
    _write(path, content.encode("utf8"), "the JSON file")
    return ExportSummary(len(records), entities_written, skipped)


def _make_folder(folder: Path, target: Path, what: str) -> None:
    """Create `folder` (and its parents) to write `target`; ConversionError naming `target` when not possible."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConversionError(f"{target}: cannot write {what} here ({err.strerror or type(err).__name__})") from None


def _write(path: Path, data: bytes, what: str) -> None:
    """Write `data` to `path`; ConversionError naming it when that is not possible."""
    try:
        path.write_bytes(data)
    except OSError as err:
        raise ConversionError(f"{path}: cannot write {what} here ({err.strerror or type(err).__name__})") from None


def _check_key(docs: int, with_key: int, spans_key: str) -> None:
    """Writing documents none of which has the spans key would silently export nothing."""
    if docs and not with_key:
        raise ConversionError(f"no document has spans key {spans_key!r}; choose the key with --spans-key")


def _brat_label(label: str) -> str:
    """A BRAT type or attribute name: no whitespace allowed."""
    return re.sub(r"\s+", "_", label.strip())


def _file_name(identifier: str, taken: set[str]) -> str:
    """A safe, unique relative file name (without suffix) for a document id; unique without regard to case."""
    parts = [UNSAFE_NAME.sub("_", part) for part in identifier.split("/") if part not in ("", ".", "..")]
    name = "/".join(parts) or "doc"
    candidate, copy = name, 2
    while candidate.casefold() in taken:
        candidate = f"{name}-{copy}"
        copy += 1
    taken.add(candidate.casefold())
    return candidate
