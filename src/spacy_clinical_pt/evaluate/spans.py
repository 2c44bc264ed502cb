"""Evaluating a span classifier (spaCy's `spancat`): thresholds on its span scores, and its candidates' recall."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Optional, Sequence

import numpy
from spacy.language import Language
from spacy.tokens import Doc

from ..metrics import THRESHOLD_GRID, SpanTuple, ThresholdChoice, best_on_grid, entity_metrics, token_metrics
from ..thresholds import DEFAULT_THRESHOLD, Thresholds, ThresholdValue
from .choose import NEEDS_DEV, OBJECTIVES, threshold_section
from .matrices import pred_label_matrix
from .run import DocResult, Evaluation, Progress, corpus_counts, pipeline_setup, run_pipeline

TOKEN_UNIT = "spaCy tokens of the pipeline's tokenizer, whitespace tokens (token.is_space) excluded"
# Thresholds on span scores: the grid of token thresholds and a few below its 0.01, where a rare label's scores
# may all lie (a classifier that learned the label weakly still ranks its spans).
SPAN_THRESHOLD_GRID = numpy.concatenate([[0.001, 0.002, 0.003, 0.005, 0.007], THRESHOLD_GRID])


def spans_above(docs: Sequence[DocResult], threshold: ThresholdValue) -> list[list[SpanTuple]]:
    """Each doc's predicted spans whose score reaches the threshold (shared, or per label: labels left out use
    the default)."""
    kept = []
    for doc in docs:
        scores = doc.pred_scores if doc.pred_scores is not None else numpy.ones(len(doc.pred), dtype="float32")
        kept.append(
            [
                span
                for span, score in zip(doc.pred, scores)
                if score >= (threshold.get(span[2], DEFAULT_THRESHOLD) if isinstance(threshold, Mapping) else threshold)
            ]
        )
    return kept


def span_threshold_curves(
    docs: Sequence[DocResult], labels: Sequence[str], grid: numpy.ndarray = SPAN_THRESHOLD_GRID
) -> list[dict[str, Any]]:
    """Exact-span precision-recall curves of a span classifier over the grid of thresholds on its span scores, per
    label and micro-averaged: rows as `metrics.pr_curves` gives them (series, threshold, precision, recall, f1,
    tp, fp, fn), precision 1.0 where nothing is predicted."""
    gold = [doc.gold for doc in docs]
    rows: list[dict[str, Any]] = []
    per_threshold = [entity_metrics(gold, spans_above(docs, float(t)), labels)["strict"] for t in grid]
    for name in [*labels, "micro"]:
        for t, strict in zip(grid, per_threshold):
            scores = strict["micro"] if name == "micro" else strict["per_label"][name]
            tp, fp, fn = (int(scores[k]) for k in ("tp", "fp", "fn"))
            rows.append(
                {
                    "series": name,
                    "threshold": float(t),
                    "precision": tp / (tp + fp) if tp + fp else 1.0,
                    "recall": tp / (tp + fn) if tp + fn else 0.0,
                    "f1": float(scores["f1"]),
                    "tp": tp,
                    "fp": fp,
                    "fn": fn,
                }
            )
    return rows


def select_span_threshold(rows: Sequence[Mapping[str, Any]], labels: Sequence[str], per_label: bool) -> ThresholdChoice:
    """The threshold(s) on span scores maximising exact-span F1 (micro, or each label's), from
    `span_threshold_curves` rows; ties: the middle of the first plateau (`metrics.best_on_grid`)."""

    def best(series: str) -> tuple[float, float]:
        points = [r for r in rows if r["series"] == series]
        return best_on_grid(numpy.asarray([r["threshold"] for r in points]), numpy.asarray([r["f1"] for r in points]))

    if not per_label:
        return ThresholdChoice(*best("micro"))
    chosen = {label: best(label) for label in labels}
    return ThresholdChoice({k: v[0] for k, v in chosen.items()}, {k: v[1] for k, v in chosen.items()})


def candidate_recall(docs: Sequence[DocResult]) -> dict[str, Any]:
    """How many spans were proposed to the classifier, and how many gold spans (start and end, any label) were
    among them: the recall that no threshold of the classifier can exceed; per label too (`per_label`: the gold
    spans of each label whose boundaries were proposed), where a rare label's ceiling shows."""
    proposed = gold = found = 0
    per_label: dict[str, list[int]] = {}
    for doc in docs:
        candidates = set(doc.candidates or [])
        boundaries = {(s[0], s[1]) for s in doc.gold}
        proposed += len(candidates)
        gold += len(boundaries)
        found += len(boundaries & candidates)
        for start, end, label in set(doc.gold):
            counts = per_label.setdefault(label, [0, 0])
            counts[0] += 1
            counts[1] += (start, end) in candidates
    return {
        "proposed": proposed,
        "proposed_per_doc": proposed / len(docs) if docs else 0.0,
        "gold_spans": gold,
        "gold_spans_proposed": found,
        "recall": found / gold if gold else 0.0,
        "per_label": {
            label: {"gold_spans": n, "gold_spans_proposed": k, "recall": k / n}
            for label, (n, k) in sorted(per_label.items())
        },
    }


def suggester_name(nlp: Language, classifier: Any) -> Optional[str]:
    """The registered name of the span classifier's suggester in the pipeline's config (e.g.
    "spacy.ngram_suggester.v1"), or None when the config does not name one."""
    suggester = nlp.config.get("components", {}).get(classifier.name, {}).get("suggester", {})
    return suggester.get("@misc") if isinstance(suggester, Mapping) else None


@contextmanager
def lowest_threshold(classifier: Any) -> Iterator[None]:
    """Run with the classifier's threshold at the bottom of the grid, so that it keeps every span a threshold of
    the grid could keep; its own threshold is restored afterwards, also when the pipeline raises."""
    own = classifier.cfg["threshold"]
    classifier.cfg["threshold"] = float(SPAN_THRESHOLD_GRID[0])
    try:
        yield
    finally:
        classifier.cfg["threshold"] = own


def evaluate_span_classifier(
    nlp: Language,
    classifier: Any,
    test_docs: Sequence[Doc],
    dev_docs: Optional[Sequence[Doc]] = None,
    *,
    policy: str = "dev",
    per_label: bool = False,
    threshold: Optional[Thresholds] = None,
    gold_key: str = "sc",
    batch_size: int = 32,
    progress: Optional[Progress] = None,
) -> Evaluation:
    """Evaluate a pipeline whose output comes from a span classifier (spaCy's `spancat`; see the package docstring).

    The pipeline runs once per DocBin with the classifier's threshold at the bottom of the grid (`lowest_threshold`),
    so that every threshold can be applied to the stored span scores afterwards. policy and per_label: as
    `evaluate_pipeline`, the objective being exact-span F1; threshold: the fixed policy's (default: the
    classifier's own). The classifier is left as it was; `Evaluation.thresholds` holds the chosen threshold.
    """
    if policy == "dev" and dev_docs is None:
        raise ValueError(NEEDS_DEV)
    own = Thresholds.of(classifier.cfg["threshold"])
    dev = None
    with lowest_threshold(classifier):
        test, lost = run_pipeline(nlp, test_docs, gold_key, classifier.key, None, batch_size, classifier, progress)
        if policy == "dev":
            dev, _ = run_pipeline(nlp, dev_docs, gold_key, classifier.key, None, batch_size, classifier, progress,
                                  "dev")
    labels = sorted(classifier.labels)
    gold_labels = sorted({s[2] for doc in test for s in doc.gold})
    curves = span_threshold_curves(test, labels)

    def best_on(which: str) -> ThresholdChoice:
        rows = curves if which == "test" else span_threshold_curves(dev, labels)
        return select_span_threshold(rows, labels, per_label)

    section = threshold_section(
        policy, per_label, OBJECTIVES[("entity", per_label)].replace("decoded", "scored by the span classifier"),
        best_on, own if threshold is None else threshold, labels,
        given_as="given" if threshold is not None else "the pipeline's own", grid=SPAN_THRESHOLD_GRID,
    )
    value = section["value"]
    pred_spans = spans_above(test, value)
    y_true, y_pred = pred_label_matrix(test, labels, pred_spans)
    metrics: dict[str, Any] = {
        "token_unit": TOKEN_UNIT,
        "counts": corpus_counts(test, lost),
        "pipeline_kind": "span_classifier",
        "pipeline_setup": pipeline_setup(nlp, classifier=classifier),
        "component": classifier.name,
        "scheme": None,
        "labels": labels,
        "gold_labels_unknown_to_pipeline": sorted(set(gold_labels) - set(labels)),
        "threshold": section,
        "token": {"IO": token_metrics(y_true, y_pred, labels)},
        "candidates": {"suggester": suggester_name(nlp, classifier), **candidate_recall(test)},
        "entity": entity_metrics([doc.gold for doc in test], pred_spans, labels),
    }
    return Evaluation(metrics, pr_rows=curves, thresholds=Thresholds(value), predicted=pred_spans)
