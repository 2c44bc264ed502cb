"""Writing documents back out: BRAT standoff (character offsets) and JSON spans (ER_NER layout).

Both exports work for gold documents built by `convert` and for model predictions alike:
- a span whose `span.id_` names a source entity stored by `build_docs` (`doc.user_data["clinical_pt"]`)
  is written as that entity was read: its original offsets, its discontinuous fragments (several spans
  sharing the id become one entity again), its extra attributes (ER_NER's `Polaridade`), its BRAT id;
- any other span (a prediction) is written from its own character offsets, with a fresh id, and with its
  confidence when the span group carries `attrs["scores"]`.
So convert -> export gives back the same annotations, and a model's output can be loaded into BRAT.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable, NamedTuple

from spacy.tokens import Doc

from .corpus import ConversionError, doc_id, entity_attributes

BRAT_ID = re.compile(r"T(\d+)$")
UNSAFE_NAME = re.compile(r"[^\w.\-/]+")


class ExportedEntity(NamedTuple):
    """One entity to write: its label, its (start, end) fragments, its attributes, source id and score."""

    label: str
    fragments: tuple[tuple[int, int], ...]
    attributes: dict[str, Any]
    id: str | None = None
    score: float | None = None

    @property
    def start(self) -> int:
        return min(start for start, _ in self.fragments)

    @property
    def end(self) -> int:
        return max(end for _, end in self.fragments)


class ExportSummary(NamedTuple):
    """What an export wrote: documents and entities."""

    docs: int
    entities: int


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
        fresh.append(ExportedEntity(span.label_, ((span.start_char, span.end_char),), {}, None, score))
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
    """
    docs = list(docs)
    _check_key(len(docs), sum(spans_key in doc.spans for doc in docs), spans_key)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names: set[str] = set()
    docs_written = entities_written = 0
    for number, doc in enumerate(docs, start=1):
        name = _file_name(doc_id(doc) or f"doc{number:05d}", names)
        entities = document_entities(doc, spans_key)
        txt_path = out_dir / f"{name}.txt"
        txt_path.parent.mkdir(parents=True, exist_ok=True)
        # newline="" keeps the text byte for byte: offsets count "\r\n" as two characters.
        with txt_path.open("w", encoding="utf8", newline="") as file:
            file.write(doc.text)
        with (out_dir / f"{name}.ann").open("w", encoding="utf8", newline="\n") as file:
            file.writelines(line + "\n" for line in _brat_lines(doc.text, entities))
        docs_written += 1
        entities_written += len(entities)
    return ExportSummary(docs_written, entities_written)


def _brat_lines(text: str, entities: list[ExportedEntity]) -> list[str]:
    """The `T` (and `A`) lines for one document: source ids kept, fresh ids after the highest one."""
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
        # BRAT's text column: fragment texts joined by one space, on one line.
        quoted = " ".join(text[start:end] for start, end in entity.fragments)
        quoted = quoted.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
        lines.append(f"{brat_id}\t{_brat_label(entity.label)} {offsets}\t{quoted}")
        for name, value in entity.attributes.items():
            if value is True:
                lines.append(f"A{attribute_number}\t{_brat_label(name)} {brat_id}")
            elif isinstance(value, str) and value and not any(c.isspace() for c in value):
                lines.append(f"A{attribute_number}\t{_brat_label(name)} {brat_id} {value}")
            else:
                continue
            attribute_number += 1
    return lines


def export_jsonspans(
    docs: Iterable[Doc], path: str | Path, spans_key: str = "sc", start_key: str = "begin"
) -> ExportSummary:
    """Write the documents as JSON spans: `[{"doc_id", "text", "annotations": [...]}]` (ER_NER layout).

    docs: documents with entities in `doc.spans[spans_key]` (gold from `convert`, or predicted).
    path: a `.json` file (one JSON list) or a `.jsonl` file (one document per line).
    start_key: the name of the start offset, "begin" as in ER_NER (or "start").
    Each annotation is `{start_key, "end", "label", **attributes}`, plus `"fragments": [[start, end], ...]`
    for a discontinuous entity and `"score"` for a prediction with a confidence. A numeric document id
    is written as a number, as ER_NER has it.
    """
    path = Path(path)
    records = []
    with_key = 0
    entities_written = 0
    for number, doc in enumerate(docs, start=1):
        with_key += spans_key in doc.spans
        annotations = []
        for entity in document_entities(doc, spans_key):
            annotation: dict[str, Any] = {start_key: entity.start, "end": entity.end, "label": entity.label}
            annotation.update(entity.attributes)
            if len(entity.fragments) > 1:
                annotation["fragments"] = [list(f) for f in entity.fragments]
            if entity.score is not None:
                annotation["score"] = entity.score
            annotations.append(annotation)
        identifier = doc_id(doc) or str(number)
        records.append(
            {
                "doc_id": int(identifier) if identifier.isdecimal() else identifier,
                "text": doc.text,
                "annotations": annotations,
            }
        )
        entities_written += len(annotations)
    _check_key(len(records), with_key, spans_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf8") as file:
        if path.suffix == ".jsonl":
            file.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
        else:
            json.dump(records, file, ensure_ascii=False)
    return ExportSummary(len(records), entities_written)


def _check_key(docs: int, with_key: int, spans_key: str) -> None:
    """Writing documents none of which has the spans key would silently export nothing."""
    if docs and not with_key:
        raise ConversionError(f"no document has spans key {spans_key!r}; choose the key with --spans-key")


def _brat_label(label: str) -> str:
    """A BRAT type or attribute name: no whitespace allowed."""
    return re.sub(r"\s+", "_", label.strip())


def _file_name(identifier: str, taken: set[str]) -> str:
    """A safe, unique relative file name (without suffix) for a document id."""
    parts = [UNSAFE_NAME.sub("_", part) for part in identifier.split("/") if part not in ("", ".", "..")]
    name = "/".join(parts) or "doc"
    candidate, copy = name, 2
    while candidate in taken:
        candidate = f"{name}-{copy}"
        copy += 1
    taken.add(candidate)
    return candidate
