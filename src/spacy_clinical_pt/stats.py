"""Corpus statistics: entities and documents per label, entity length, nesting, overlap, discontinuity.

`corpus_stats(docs)` reads the entities that `corpus.build_docs` put in `doc.spans[spans_key]`. An entity is
counted once however many spans it has: the spans of one discontinuous entity (built with
`discontinuous="fragments"`) share `span.id_`. Nesting and overlap are judged on the tokens each entity
covers, so a discontinuous entity does not "contain" what lies in its gap when it was built as fragments.

Pairs of entities in one document fall in exactly one of three kinds:
- nested: the tokens of one (inner) are a proper subset of the tokens of the other (outer);
- overlapping: they share tokens but neither contains the other;
- same extent: they cover exactly the same tokens (one text with two labels, or a duplicate annotation).
Each kind is counted per label pair, same-label and cross-label pairs alike.

The `stats` command (`cli/stats.py`) prints these as a table (`format_stats`), or as JSON with `--json`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterable, NamedTuple

from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from .convert.docbin import decoded_docs
from .corpus import Progress, describe_error, doc_id, entity_attributes


class EntityTokens(NamedTuple):
    """One entity of a `Doc` as the set of token indices its span(s) cover."""

    id: str
    label: str
    tokens: frozenset[int]
    first: int  # first token index, for sorting
    last: int  # last token index + 1
    discontinuous: bool


def read_docs(path: str | Path, progress: Progress | None = None) -> list[Doc]:
    """All `Doc`s of a DocBin file (user data included), in file order. progress: shows the reading.

    Raises FileNotFoundError when there is no such file, OSError (naming the file) when it cannot be read, and
    ValueError naming the file, and the document where one is broken, when it is not a DocBin.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not a DocBin file (.spacy)")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such DocBin file")
    data = path.read_bytes()
    try:
        doc_bin = DocBin(store_user_data=True).from_bytes(data)
    except Exception as error:  # msgpack/zlib errors say nothing about which file was bad
        raise ValueError(f"{path}: not a spaCy DocBin file ({describe_error(error)})") from error
    # A bare Vocab: reading needs no language pipeline (and so no component entry points).
    return decoded_docs(doc_bin, Vocab(), path, progress)


def read_corpus(
    path: str | Path, spans_key: str, where: str | None = None, progress: Progress | None = None
) -> list[Doc]:
    """The `Doc`s of a DocBin file that holds documents with spans under `spans_key`.

    where: how messages name the file (default its path). progress: shows the reading. Raises as `read_docs`,
    and ValueError naming the file when it holds no documents or none has spans under `spans_key`.
    """
    where = where or str(path)
    docs = read_docs(path, progress)
    if not docs:
        raise ValueError(f"{where}: the DocBin holds no documents")
    check_spans_key(docs, spans_key, where=where)
    return docs


def document_ids(docs: Iterable[Doc]) -> list[str]:
    """The source id of each document (`corpus.doc_id`), or its index in `docs` when it has none."""
    return [doc_id(doc) or str(index) for index, doc in enumerate(docs)]


def check_spans_key(docs: list[Doc], spans_key: str, where: str = "corpus") -> None:
    """Raise when no document has `doc.spans[spans_key]`: a wrong key would otherwise read as zero entities."""
    if docs and not any(spans_key in doc.spans for doc in docs):
        present = sorted({key for doc in docs for key in doc.spans})
        raise ValueError(f"{where}: no document has spans under key {spans_key!r} (keys present: {present or 'none'})")


def doc_entities(doc: Doc, spans_key: str = "sc") -> list[EntityTokens]:
    """The entities of `doc`, one per entity id, sorted by first token.

    Spans without an id (docs not built by `corpus.build_docs`) count as one entity each. An entity is
    discontinuous when its source annotation lists more than one fragment or when it has several spans.
    """
    if spans_key not in doc.spans:
        return []
    grouped: dict[str, list] = {}
    for number, span in enumerate(doc.spans[spans_key]):
        grouped.setdefault(span.id_ or f"#span{number}", []).append(span)
    attributes = entity_attributes(doc)
    entities = []
    for entity_id, spans in grouped.items():
        tokens = frozenset(i for span in spans for i in range(span.start, span.end))
        fragments = attributes.get(entity_id, {}).get("fragments") or []
        entities.append(
            EntityTokens(
                id=entity_id,
                label=spans[0].label_,
                tokens=tokens,
                first=min(span.start for span in spans),
                last=max(span.end for span in spans),
                discontinuous=len(fragments) > 1 or len(spans) > 1,
            )
        )
    entities.sort(key=lambda e: (e.first, -e.last, e.label, e.id))
    return entities


def entity_pairs(entities: list[EntityTokens]) -> Iterable[tuple[str, str, str]]:
    """Every pair of entities that share a token, as (kind, label_a, label_b).

    entities: sorted by first token (as `doc_entities` returns them).
    kind is "nested" (label_a outer, label_b inner), "overlapping" or "same_extent" (labels sorted).
    """
    for i, a in enumerate(entities):
        for b in entities[i + 1 :]:
            if b.first >= a.last:  # sorted by first token: no later entity can reach into `a`
                break
            if not a.tokens & b.tokens:
                continue  # b starts inside a's gap (a discontinuous entity built as fragments)
            if a.tokens == b.tokens:
                yield ("same_extent", *sorted((a.label, b.label)))
            elif b.tokens < a.tokens:
                yield "nested", a.label, b.label
            elif a.tokens < b.tokens:
                yield "nested", b.label, a.label
            else:
                yield ("overlapping", *sorted((a.label, b.label)))


def _pair_summary(counts: Counter, ordered: bool) -> dict[str, Any]:
    """Totals and per-label-pair counts of one kind of pair, for `corpus_stats`."""
    names = ("outer", "inner") if ordered else ("label_a", "label_b")
    return {
        "pairs": sum(counts.values()),
        "same_label": sum(n for (a, b), n in counts.items() if a == b),
        "cross_label": sum(n for (a, b), n in counts.items() if a != b),
        "by_labels": [
            {names[0]: a, names[1]: b, "count": n}
            for (a, b), n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        ],
    }


def corpus_stats(docs: Iterable[Doc], spans_key: str = "sc") -> dict[str, Any]:
    """Statistics of a corpus of `Doc`s, as a JSON-ready dict.

    docs: documents with entities in `doc.spans[spans_key]` (as written by `corpus.build_docs`).
    spans_key: the span group holding the entities.

    Returns {"documents", "documents_without_entities", "tokens", "entities", "discontinuous",
    "mean_entities_per_document", "labels": {label: {"entities", "documents", "mean_tokens",
    "discontinuous"}}, "nested", "overlapping", "same_extent"}; each of the last three is
    {"pairs", "same_label", "cross_label", "by_labels": [{labels..., "count"}]}, nested pairs keyed
    ("outer", "inner"), the others ("label_a", "label_b") in sorted order.
    """
    docs = list(docs)
    check_spans_key(docs, spans_key)
    entities_per_label: Counter = Counter()
    documents_per_label: Counter = Counter()
    tokens_per_label: Counter = Counter()
    discontinuous_per_label: Counter = Counter()
    pairs: dict[str, Counter] = {"nested": Counter(), "overlapping": Counter(), "same_extent": Counter()}
    tokens = 0
    empty = 0
    for doc in docs:
        tokens += len(doc)
        entities = doc_entities(doc, spans_key)
        if not entities:
            empty += 1
        for entity in entities:
            entities_per_label[entity.label] += 1
            tokens_per_label[entity.label] += len(entity.tokens)
            discontinuous_per_label[entity.label] += entity.discontinuous
        documents_per_label.update({entity.label for entity in entities})
        for kind, label_a, label_b in entity_pairs(entities):
            pairs[kind][label_a, label_b] += 1
    total_entities = sum(entities_per_label.values())
    return {
        "documents": len(docs),
        "documents_without_entities": empty,
        "tokens": tokens,
        "entities": total_entities,
        "discontinuous": sum(discontinuous_per_label.values()),
        "mean_entities_per_document": total_entities / len(docs) if docs else 0.0,
        "mean_tokens_per_entity": sum(tokens_per_label.values()) / total_entities if total_entities else 0.0,
        "labels": {
            label: {
                "entities": entities_per_label[label],
                "documents": documents_per_label[label],
                "mean_tokens": tokens_per_label[label] / entities_per_label[label],
                "discontinuous": discontinuous_per_label[label],
            }
            for label in sorted(entities_per_label)
        },
        "nested": _pair_summary(pairs["nested"], ordered=True),
        "overlapping": _pair_summary(pairs["overlapping"], ordered=False),
        "same_extent": _pair_summary(pairs["same_extent"], ordered=False),
    }


def format_stats(stats: dict[str, Any]) -> str:
    """The statistics of `corpus_stats` as a plain-text table for the terminal."""
    labels = stats["labels"]
    width = max([len("label"), len("total"), *(len(label) for label in labels)])
    header = f"{'label':<{width}}  {'entities':>8}  {'documents':>9}  {'mean tokens':>11}  {'discontinuous':>13}"
    lines = [
        f"{stats['documents']} documents ({stats['documents_without_entities']} without entities), "
        f"{stats['tokens']} tokens, {stats['entities']} entities "
        f"({stats['mean_entities_per_document']:.1f} per document), {stats['discontinuous']} discontinuous",
        "",
        header,
        "-" * len(header),
    ]
    for label, row in labels.items():
        lines.append(
            f"{label:<{width}}  {row['entities']:>8}  {row['documents']:>9}  {row['mean_tokens']:>11.2f}  "
            f"{row['discontinuous']:>13}"
        )
    lines.append(
        f"{'total':<{width}}  {stats['entities']:>8}  {stats['documents']:>9}  "
        f"{stats['mean_tokens_per_entity']:>11.2f}  {stats['discontinuous']:>13}"
    )
    for kind, title, joiner in (
        ("nested", "nested pairs (outer > inner)", " > "),
        ("overlapping", "partially overlapping pairs", " ~ "),
        ("same_extent", "same-extent pairs (same tokens, two annotations)", " = "),
    ):
        summary = stats[kind]
        lines += ["", f"{title}: {summary['pairs']} (same label {summary['same_label']}, "
                      f"cross-label {summary['cross_label']})"]
        for row in summary["by_labels"]:
            first, second = (row["outer"], row["inner"]) if kind == "nested" else (row["label_a"], row["label_b"])
            lines.append(f"  {first + joiner + second:<{2 * width + 3}}  {row['count']:>6}")
    return "\n".join(lines)
