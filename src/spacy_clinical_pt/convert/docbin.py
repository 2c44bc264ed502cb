"""An existing spaCy `.spacy` file (DocBin): entities from a span group or from `doc.ents`.

The documents are read back as records (text and character offsets), so they go through the same builder
as every other format: re-tokenized with the clinical tokenizer, stored under the chosen spans key.
When a document was itself built by `build_docs`, the stored source annotation (discontinuous fragments,
extra attributes) travels with its spans.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab
from ..corpus import (
    ConversionError,
    ConversionReport,
    Entity,
    Progress,
    Record,
    describe_error,
    doc_id,
    entity_attributes,
)


def load_docs(path: str | Path, nlp: Language | None = None) -> list[Doc]:
    """The documents of a `.spacy` file, with their user data (source annotation, document ids).

    nlp: whose vocab the docs use; default a fresh vocab (the DocBin carries its own strings).
    """
    path = Path(path)
    if not path.exists():
        raise ConversionError(f"{path}: no such file")
    if path.is_dir():
        raise ConversionError(f"{path}: is a folder; expected a .spacy file")
    vocab = nlp.vocab if nlp is not None else Vocab()
    try:
        doc_bin = DocBin(store_user_data=True).from_disk(path)
    except Exception as err:  # msgpack/zlib raise many unrelated types for a file that is not a DocBin
        raise ConversionError(f"{path}: not a spaCy DocBin file ({type(err).__name__})") from None
    return decoded_docs(doc_bin, vocab, path)


def decoded_docs(doc_bin: DocBin, vocab: Vocab, path: Path, progress: Progress | None = None) -> list[Doc]:
    """The docs of `doc_bin`, every span group read: docs are decoded one by one and spans only when read, so a
    damaged document would otherwise fail later, far from its file. ConversionError naming the file and document.

    path: the DocBin's file, for messages and the progress bar. progress: shows the reading (default: nothing).
    """
    docs: list[Doc] = []
    decoded = doc_bin.get_docs(vocab)
    try:
        for doc in progress(decoded, f"reading {path.name}", len(doc_bin)) if progress is not None else decoded:
            for group in doc.spans.values():
                list(group)
            docs.append(doc)
    except Exception as error:
        raise ConversionError(
            f"{path}: document {len(docs) + 1}: not a valid spaCy Doc, the DocBin is damaged ({describe_error(error)})"
        ) from error
    return docs


def read_docbin(
    path: Path,
    report: ConversionReport,
    *,
    source_key: str | None = None,
    default_key: str = "sc",
) -> Iterator[Record]:
    """Records from a `.spacy` file.

    path: the DocBin file.
    source_key: read `doc.spans[source_key]`; it is an error when no document has that key.
    default_key: without `source_key`, read `doc.spans[default_key]` where a document has it, else `doc.ents`.
    Each entity's origin is "FILE doc N span M".
    """
    path = Path(path)
    if path.is_file() and not path.read_bytes():
        report.error(str(path), "the file is empty")
        return
    docs = load_docs(path)
    if source_key is not None and docs and not any(source_key in doc.spans for doc in docs):
        keys = sorted({key for doc in docs for key in doc.spans})
        report.error(str(path), f"no document has spans key {source_key!r} (keys found: {keys or 'none'})")
        return
    for number, doc in enumerate(docs, start=1):
        where = f"{path} doc {number}"
        key = source_key or (default_key if default_key in doc.spans else None)
        spans = list(doc.spans[key]) if key is not None and key in doc.spans else list(doc.ents)
        yield Record(doc_id(doc) or f"{path.stem}-{number}", doc.text, _entities(doc, spans, where), where)


def _entities(doc: Doc, spans: list[Any], where: str) -> list[Entity]:
    """One Entity per span; fragments sharing a stored entity id become one (discontinuous) entity again."""
    stored = entity_attributes(doc)
    entities: list[Entity] = []
    taken: set[str] = set()
    for index, span in enumerate(spans, start=1):
        origin = f"{where} span {index}"
        source = stored.get(span.id_) if span.id_ else None
        if source is not None and source["label"] == span.label_:
            if span.id_ in taken:
                continue  # another fragment of an entity already read
            taken.add(span.id_)
            entities.append(
                Entity(
                    source["start"],
                    source["end"],
                    source["label"],
                    dict(source["attributes"]),
                    tuple(tuple(f) for f in source["fragments"]),
                    id=span.id_,
                    origin=origin,
                )
            )
        else:
            # Spans without a stored source (model predictions, doc.ents): their own offsets.
            entities.append(Entity(span.start_char, span.end_char, span.label_, origin=origin))
    return entities
