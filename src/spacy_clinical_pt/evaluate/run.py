"""Running the pipeline over gold docs once, and keeping what the metrics need (no text)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example

from ..metrics import span_tuples, whitespace_tokens
from ..thresholds import Thresholds

# A progress display the command passes in: (predicted docs, how many, "test" or "dev") -> the same docs.
Progress = Callable[[Iterable[Doc], int, str], Iterable[Doc]]


@dataclass
class DocResult:
    """One document after the pipeline ran: what the metrics need, nothing else (no text).

    space: bool (n_tokens,), True for whitespace tokens. probs: float32 (n_tokens, n_columns) or None.
    gold, pred: `(start, end, label)` spans in the predicted doc's tokens (end exclusive).
    pred_scores: the score of each `pred` span (span classifiers), else None.
    candidates: the `(start, end)` spans a span classifier's suggester proposed, else None.
    """

    space: numpy.ndarray
    probs: Optional[numpy.ndarray]
    gold: list[tuple[int, int, str]]
    pred: list[tuple[int, int, str]]
    pred_scores: Optional[numpy.ndarray] = None
    candidates: Optional[list[tuple[int, int]]] = None


@dataclass
class Evaluation:
    """The result of `evaluate_pipeline`.

    metrics: the JSON of metrics.json. pr_rows, roc_rows: the curve rows. thresholds: the thresholds chosen (or
    given) for the component deciding the output, None for span-only pipelines: the pipeline itself is left as
    it was (`Thresholds.apply_to` sets them). predicted: the `(start, end, label)` spans scored, one list per
    test doc (in the pipeline's tokens), at those thresholds.
    """

    metrics: dict[str, Any]
    pr_rows: list[dict[str, Any]] = field(default_factory=list)
    roc_rows: list[dict[str, Any]] = field(default_factory=list)
    thresholds: Optional[Thresholds] = None
    predicted: list[list[tuple[int, int, str]]] = field(default_factory=list)


def _same_tokens(a: Doc, b: Doc) -> bool:
    return len(a) == len(b) and all(x.text == y.text and x.whitespace_ == y.whitespace_ for x, y in zip(a, b))


def run_pipeline(
    nlp: Language,
    gold_docs: Sequence[Doc],
    gold_key: str = "sc",
    spans_key: Optional[str] = None,
    tagger: Any = None,
    batch_size: int = 32,
    classifier: Any = None,
    progress: Optional[Progress] = None,
    desc: str = "test",
) -> tuple[list[DocResult], int]:
    """Run `nlp` once over the texts of `gold_docs` and keep what the metrics need.

    gold_key: the `doc.spans` key of the gold entities. spans_key: the key the pipeline writes (default: the
    tagger's key, else "sc"). tagger: the `ClinicalTagger` whose probabilities to keep, or None. classifier: a
    span classifier whose suggester's proposals to keep (its suggester runs on each annotated doc), or None. The
    scores of the predicted spans are kept when the pipeline stores them (`attrs["scores"]`, as spancat does).
    progress: wraps the predicted docs (a progress bar), given `len(gold_docs)` and `desc`, the set's name.
    RETURNS: (one DocResult per document, number of gold spans lost aligning to a different tokenization).
    """
    key = spans_key or (tagger.key if tagger is not None else "sc")
    results, lost = [], 0
    predicted = nlp.pipe((doc.text for doc in gold_docs), batch_size=batch_size)
    if progress is not None:
        predicted = progress(predicted, len(gold_docs), desc)
    for gold_doc, doc in zip(gold_docs, predicted):
        gold_spans = list(gold_doc.spans.get(gold_key, []))
        if _same_tokens(doc, gold_doc):
            gold = span_tuples(gold_spans)
        else:
            # Another tokenizer: map gold spans onto the predicted tokens (spans that cannot map are lost).
            aligned = Example(doc, gold_doc).get_aligned_spans_y2x(gold_spans, allow_overlap=True)
            lost += len(gold_spans) - len(aligned)
            gold = span_tuples(aligned)
        group = doc.spans.get(key, [])
        scores = group.attrs.get("scores") if hasattr(group, "attrs") else None
        scores = None if scores is None or len(scores) != len(group) else numpy.asarray(scores, dtype="float32")
        proposed = None if classifier is None else suggested_spans(classifier, doc)
        results.append(DocResult(whitespace_tokens(doc), _probabilities(tagger, doc), gold, span_tuples(group),
                                 scores, proposed))
    return results, lost


def _probabilities(tagger: Any, doc: Doc) -> Optional[numpy.ndarray]:
    """The tagger's probabilities of `doc` (float32 (n_tokens, n_columns)), or None without a tagger."""
    if tagger is None:
        return None
    probs = doc._.get("clinical_probs")
    if probs is None:
        raise ValueError(f"component {tagger.name!r} left no doc._.clinical_probs; was it disabled?")
    return numpy.asarray(probs, dtype="float32")


def suggested_spans(classifier: Any, doc: Doc) -> list[tuple[int, int]]:
    """The distinct `(start, end)` spans the span classifier's own suggester proposes for the annotated `doc`,
    sorted (whatever the suggester: the tagger's proposals, preset spans, n-grams)."""
    indices = classifier.suggester([doc], ops=classifier.model.ops)
    pairs = classifier.model.ops.to_numpy(indices.dataXd).reshape(-1, 2)
    return sorted({(int(start), int(end)) for start, end in pairs.tolist()})


def corpus_counts(docs: Sequence[DocResult], lost: int) -> dict[str, int]:
    """The `counts` section of metrics.json: documents, tokens (whitespace ones apart), gold spans and those lost
    aligning to the pipeline's tokens."""
    return {
        "docs": len(docs),
        "tokens": sum(len(doc.space) for doc in docs),
        "whitespace_tokens_excluded": sum(int(doc.space.sum()) for doc in docs),
        "gold_spans": sum(len(doc.gold) for doc in docs),
        "gold_spans_lost_in_alignment": lost,
    }


def pipeline_setup(nlp: Language, tagger: Any = None, classifier: Any = None) -> dict[str, Any]:
    """The `pipeline_setup` section of metrics.json: what produced the evaluated spans.

    tagger: the evaluated `clinical_tagger` (its spans are the output), or None.
    classifier: the span classifier whose spans are the output, or None; a `clinical_tagger` before it in the
        pipeline is taken as the stage proposing its candidates (its scheme is named).
    RETURNS: {"name", "tagger_scheme", "span_classifier"} (the classifier's factory, e.g. "spancat").
    """
    from ..tagger import ClinicalTagger

    if classifier is not None:
        before = nlp.pipe_names[: nlp.pipe_names.index(classifier.name)]
        taggers = [nlp.get_pipe(name) for name in before if isinstance(nlp.get_pipe(name), ClinicalTagger)]
        scheme = taggers[-1].scheme if taggers else None
        factory = nlp.get_pipe_meta(classifier.name).factory
        name = f"{scheme} + {factory}" if scheme else factory
        return {"name": name, "tagger_scheme": scheme, "span_classifier": factory}
    if tagger is not None:
        return {"name": tagger.scheme, "tagger_scheme": tagger.scheme, "span_classifier": None}
    return {"name": "spans", "tagger_scheme": None, "span_classifier": None}


def load_gold(path: Path, nlp: Language, gold_key: str) -> list[Doc]:
    """The gold docs of a `.spacy` file; a ValueError naming the file when it has no documents or no gold spans.

    path: the DocBin. nlp: whose vocab the docs use. gold_key: the `doc.spans` key of the gold entities.
    """
    from ..convert import load_docs

    docs = load_docs(path, nlp)
    if not docs:
        raise ValueError(f"{path}: no documents")
    if not any(len(doc.spans.get(gold_key, [])) for doc in docs):
        keys = sorted({key for doc in docs for key, group in doc.spans.items() if len(group)})
        raise ValueError(
            f"{path}: no gold spans under doc.spans[{gold_key!r}] in its {len(docs)} documents (keys holding spans: "
            f"{', '.join(keys) or 'none'}); pass the right one with --gold-key"
        )
    return docs
