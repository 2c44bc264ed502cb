"""Assertion (negated, possible, hypothetical, historical, family) scored where the gold spans carry it.

metrics.json's `assertion` section, for a pipeline with a `clinical_context` on gold whose entities carry an
assertion in their source attributes (ER_NER's `Polaridade`, BRAT attribute lines: `context.gold`):
- `on_gold_spans`: the pipeline's `clinical_context` run on copies of the gold docs with the gold spans set,
  which isolates assertion from NER: accuracy, per-class precision, recall and F1 (scikit-learn), the confusion
  matrix (rows gold, columns predicted), n;
- `end_to_end`: the spans the evaluation scored (at the chosen thresholds) given to the same component; a
  predicted span counts when its span, label and assertion are all those of a gold span (micro P/R/F1).
Scope: the labels with at least one gold assertion; within them a gold span whose attributes say nothing is
"present" (BRAT marks the exceptions only, `A1 Negation T3`), and spans of other labels are left out.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from spacy.language import Language
from spacy.tokens import Doc, Span

from ..metrics import SpanTuple
from ..pipes import context_names

# A span's key in the end-to-end comparison: character offsets (tokenizers may differ), label, assertion.
CharSpan = tuple[int, int, str, str]


def context_component(nlp: Language) -> Any:
    """The pipeline's last `clinical_context` component, or None."""
    names = context_names(nlp)
    return nlp.get_pipe(names[-1]) if names else None


def assertion_section(
    nlp: Language, gold_docs: Sequence[Doc], predicted: Sequence[Sequence[SpanTuple]], gold_key: str = "sc"
) -> Optional[dict[str, Any]]:
    """metrics.json's `assertion` section, or None without a `clinical_context` or without gold assertion.

    gold_docs: the test docs, entities in `doc.spans[gold_key]`, source attributes in user data (`convert`).
    predicted: the evaluated `(start, end, label)` spans of each doc, in the tokens of `nlp.make_doc(doc.text)`.
    """
    from ..context.gold import gold_assertions

    context = context_component(nlp)
    if context is None:
        return None
    annotated = [gold_assertions(doc, gold_key) for doc in gold_docs]
    labels = sorted({label for found in annotated for _, _, label in found})
    if not labels:
        return None
    truth, guess = on_gold_spans(context, gold_docs, annotated, labels, gold_key)
    gold = [_gold_char_spans(doc, found, labels, gold_key) for doc, found in zip(gold_docs, annotated)]
    pred = [_predicted_char_spans(context, nlp.make_doc(doc.text), spans, labels)
            for doc, spans in zip(gold_docs, predicted)]
    return {
        "component": context.name,
        "scope": {
            "labels": labels,
            "gold_spans": len(truth),
            "gold_spans_annotated": sum(len(found) for found in annotated),
            "note": "gold spans of these labels whose attributes say nothing count as present",
        },
        "on_gold_spans": classification_scores(truth, guess),
        "end_to_end": end_to_end_scores(gold, pred),
    }


def on_gold_spans(
    context: Any, gold_docs: Sequence[Doc], annotated: Sequence[dict], labels: Sequence[str], gold_key: str
) -> tuple[list[str], list[str]]:
    """(gold, predicted) assertions of the gold spans of `labels`, the component run on a copy of each doc with
    the gold spans as its targets."""
    truth: list[str] = []
    guess: list[str] = []
    for doc, found in zip(gold_docs, annotated):
        spans = [span for span in doc.spans.get(gold_key, []) if span.label_ in labels]
        if not spans:
            continue
        copy = doc.copy()
        copy.spans[context.spans_key] = [Span(copy, s.start, s.end, label=s.label_) for s in spans]
        context(copy)
        for span in copy.spans[context.spans_key]:
            truth.append(found.get((span.start, span.end, span.label_), "present"))
            guess.append(span._.assertion)
    return truth, guess


def _gold_char_spans(doc: Doc, found: dict, labels: Sequence[str], gold_key: str) -> set[CharSpan]:
    """The gold spans of `labels` with their assertion ("present" where the attributes say nothing)."""
    return {
        (span.start_char, span.end_char, span.label_, found.get((span.start, span.end, span.label_), "present"))
        for span in doc.spans.get(gold_key, [])
        if span.label_ in labels
    }


def _predicted_char_spans(context: Any, doc: Doc, spans: Sequence[SpanTuple], labels: Sequence[str]) -> set[CharSpan]:
    """The predicted spans of `labels` with the assertion the component gives them, all predicted spans being its
    targets (as in the pipeline)."""
    doc.spans[context.spans_key] = [Span(doc, start, end, label=label) for start, end, label in spans]
    context(doc)
    return {(s.start_char, s.end_char, s.label_, s._.assertion) for s in doc.spans[context.spans_key]
            if s.label_ in labels}


def classification_scores(truth: Sequence[str], guess: Sequence[str]) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1/support and the confusion matrix of assertions.

    truth, guess: one assertion per gold span. Classes: the assertions found in either, in `ASSERTIONS` order.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    from ..context import ASSERTIONS

    classes = [name for name in ASSERTIONS if name in set(truth) | set(guess)]
    if not truth:
        return {"n": 0, "accuracy": None, "per_class": {}, "confusion": {"labels": [], "matrix": []}}
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, guess, labels=classes, zero_division=0
    )
    per_class = {
        name: {"precision": round(float(p), 6), "recall": round(float(r), 6), "f1": round(float(f), 6),
               "support": int(s)}
        for name, p, r, f, s in zip(classes, precision, recall, f1, support)
    }
    matrix = confusion_matrix(truth, guess, labels=classes).tolist()
    correct = sum(a == b for a, b in zip(truth, guess))
    return {
        "n": len(truth),
        "accuracy": round(correct / len(truth), 6),
        "per_class": per_class,
        "confusion": {"labels": classes, "rows": "gold", "columns": "predicted", "matrix": matrix},
    }


def end_to_end_scores(gold: Sequence[set[CharSpan]], pred: Sequence[set[CharSpan]]) -> dict[str, Any]:
    """Micro precision, recall and F1 of predicted spans whose span, label and assertion are all right.

    gold, pred: one set of `(start_char, end_char, label, assertion)` per document.
    `span_and_label_right`: predicted spans matching a gold span and label whatever their assertion.
    """
    tp = sum(len(g & p) for g, p in zip(gold, pred))
    fp = sum(len(p) for p in pred) - tp
    fn = sum(len(g) for g in gold) - tp
    located = sum(len({s[:3] for s in g} & {s[:3] for s in p}) for g, p in zip(gold, pred))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 6),
        "recall": round(recall, 6),
        "f1": round(f1, 6),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "span_and_label_right": located,
    }
