"""Evaluation metrics: the paper's token x label matrix, entity-level matching, threshold search, curves.

Plain numpy, scipy and scikit-learn, so everything here is tested on small hand-computed cases and random
matrices without a pipeline (`spacy_clinical_pt.evaluate` feeds it from spaCy docs). scipy and scikit-learn are
imported by the functions that use them, so the component's training scorer loads numpy only.

Token level (as in the benchmark paper): the gold and predicted spans become a 0/1 matrix of shape
(n_tokens, n_columns) (`token_label_matrix`); precision, recall and F1 come from the true positive, false positive
and false negative counts of its cells (`token_counts`). One rule, used by the training scorer
(`clinical_tagger`'s `spans_<key>_token_*`), `evaluate`, and `compare`/`aggregate`, which read what evaluate wrote:
- rows: the real tokens of the pipeline's tokenizer; whitespace tokens (`token.is_space`, e.g. a "\\n") are left
  out of gold and prediction alike (the paper's code also scored padding and special positions);
- micro: precision, recall and F1 of the counts pooled over every cell;
- macro: the mean over every column of the pipeline (all its labels, or all its `B-`/`I-`/`E-` columns) of each
  column's precision, recall and F1, a ratio with a zero denominator counting 0. A label without gold and
  without predicted tokens therefore counts 0, as in scikit-learn's multilabel `precision_recall_fscore_support`
  with `zero_division=0` (the paper's figures): a test set lacking a label caps macro F1 below 1, and its
  `support` of 0 says why.
ROC AUC from `sklearn.metrics.roc_auc_score` needs the scores.

Entity level: spans `(start, end, label)` in token offsets, end exclusive, matched one-to-one per document:
- strict: same start, end and label;
- partial: same label and intersection over union of the token ranges >= 0.5 (as the ER_NER paper);
- boundary: same start and end, whatever the label.
Overlapping and nested spans on either side are fine: a gold span is used by at most one prediction and the
matching maximises the number of matched pairs (then their overlap), so two predictions cannot both claim one
gold entity.

Threshold search: a grid 0.01, 0.02, ..., 0.99. Counts for every threshold at once come from a histogram of the
scores over the grid (one pass over the matrix), so a 30k x 16 matrix takes milliseconds. A token is positive at
threshold t when its probability is >= t, compared in float32 exactly as `schemes.decode` does.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, NamedTuple, Optional, Sequence

import numpy

from .schemes import encode

THRESHOLD_GRID = numpy.round(numpy.arange(1, 100) / 100.0, 2)  # 0.01 .. 0.99
PARTIAL_MIN_IOU = 0.5
ENTITY_MODES = ("strict", "partial", "boundary")
SpanTuple = tuple[int, int, str]


def whitespace_tokens(doc: Any) -> numpy.ndarray:
    """bool (n_tokens,): True for the doc's whitespace tokens (`token.is_space`), the rows the metrics leave out."""
    return numpy.fromiter((token.is_space for token in doc), dtype=bool, count=len(doc))


def span_tuples(spans: Iterable[Any]) -> list[SpanTuple]:
    """(start token, end token, label) of each span, as the metrics take them."""
    return [(int(span.start), int(span.end), str(span.label_)) for span in spans]


def prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    """Precision, recall and F1 from counts; 0.0 where a ratio is undefined (scikit-learn's zero_division=0)."""
    precision, recall, f1 = prf_arrays(tp, fp, fn)
    return float(precision), float(recall), float(f1)


def prf_arrays(
    tp: numpy.ndarray, fp: numpy.ndarray, fn: numpy.ndarray
) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Precision, recall and F1 per column from count arrays; 0.0 where a denominator is 0 (zero_division=0)."""
    tp, fp, fn = (numpy.asarray(a, dtype="float64") for a in (tp, fp, fn))

    def ratio(numerator: numpy.ndarray, denominator: numpy.ndarray) -> numpy.ndarray:
        return numpy.divide(numerator, denominator, out=numpy.zeros_like(numerator), where=denominator > 0)

    return ratio(tp, tp + fp), ratio(tp, tp + fn), f1_curve(tp, fp, fn)


def _prf_dict(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision, recall, f1 = prf(tp, fp, fn)
    return {"precision": precision, "recall": recall, "f1": f1, "tp": int(tp), "fp": int(fp), "fn": int(fn)}


# ---------------------------------------------------------------------------------------------------------------
# Token level
# ---------------------------------------------------------------------------------------------------------------


def token_label_matrix(
    spans: Iterable[SpanTuple], space: numpy.ndarray, labels: Sequence[str], scheme: str = "IO"
) -> numpy.ndarray:
    """One document's spans as the 0/1 token matrix of the metrics: whitespace tokens' rows left out.

    spans: `(start, end, label)` token spans of the document (end exclusive); spans of labels not in `labels`
        are left out (they count as errors at entity level only).
    space: bool (n_tokens,), True for the document's whitespace tokens (`token.is_space`).
    labels: the pipeline's labels, in column order.
    scheme: "IO" (one column per label, the matrix every pipeline is scored on) or the tagger's "BIO"/"BIOE".
    RETURNS: bool array (n_real_tokens, n_columns).
    """
    space = numpy.asarray(space, dtype=bool)
    known = set(labels)
    matrix = encode([s for s in spans if s[2] in known], len(space), labels, scheme)
    return matrix[~space].astype(bool)


def token_counts(y_true: numpy.ndarray, y_pred: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """True positives, false positives and false negatives per column: three int64 arrays (n_columns,).

    y_true, y_pred: 0/1 arrays of shape (n_tokens, n_columns).
    """
    y_true = numpy.asarray(y_true).astype(bool)
    y_pred = numpy.asarray(y_pred).astype(bool)
    tp = (y_true & y_pred).sum(axis=0, dtype="int64")
    fp = (~y_true & y_pred).sum(axis=0, dtype="int64")
    fn = (y_true & ~y_pred).sum(axis=0, dtype="int64")
    return tp, fp, fn


def token_metrics(
    y_true: numpy.ndarray,
    y_pred: numpy.ndarray,
    names: Sequence[str],
    y_score: Optional[numpy.ndarray] = None,
) -> dict[str, Any]:
    """Token-level precision, recall, F1 (micro, macro, per column) from the cell counts, and ROC AUC.

    y_true: 0/1 array of shape (n_tokens, n_columns), the gold matrix.
    y_pred: 0/1 array of the same shape, the thresholded prediction.
    names: the column names (labels, or `B-`/`I-` columns), length n_columns.
    y_score: optional probabilities of the same shape, for ROC AUC; None gives AUC None (span-only pipelines).
    RETURNS: {"micro": {precision, recall, f1, tp, fp, fn}, "macro": {precision, recall, f1},
        "auc_micro", "auc_macro", "n_tokens", "per_label": {name: {precision, recall, f1, support, tp, fp, fn, auc}}}.
        Micro and macro follow the module's rule (macro over every column, an undefined ratio counting 0).
        AUC is None for a column whose gold is all 0 or all 1 (undefined); the macro AUC averages the others.
    """
    y_true = numpy.asarray(y_true).astype(bool)
    y_pred = numpy.asarray(y_pred).astype(bool)
    if y_true.shape != y_pred.shape or y_true.ndim != 2 or y_true.shape[1] != len(names):
        raise ValueError(
            f"gold {y_true.shape} and predicted {y_pred.shape} matrices must both be (n_tokens, {len(names)})"
        )
    tp, fp, fn = token_counts(y_true, y_pred)
    precision, recall, f1 = prf_arrays(tp, fp, fn)
    micro = _prf_dict(int(tp.sum()), int(fp.sum()), int(fn.sum()))
    macro = (
        {"precision": float(precision.mean()), "recall": float(recall.mean()), "f1": float(f1.mean())}
        if len(names)
        else {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    )
    result: dict[str, Any] = {"n_tokens": int(y_true.shape[0]), "micro": micro, "macro": macro}
    aucs: list[Optional[float]] = [None] * len(names)
    result["auc_micro"] = result["auc_macro"] = None
    if y_score is not None:
        from sklearn.metrics import roc_auc_score

        y_score = numpy.asarray(y_score, dtype="float64")
        if y_score.shape != y_true.shape:
            raise ValueError(f"scores of shape {y_score.shape} do not match the gold matrix {y_true.shape}")
        defined = [i for i in range(len(names)) if 0 < y_true[:, i].sum() < y_true.shape[0]]
        for i in defined:
            aucs[i] = float(roc_auc_score(y_true[:, i], y_score[:, i]))
        if defined:
            result["auc_macro"] = float(numpy.mean([aucs[i] for i in defined]))
        if 0 < y_true.sum() < y_true.size:
            result["auc_micro"] = float(roc_auc_score(y_true.ravel(), y_score.ravel()))
    result["per_label"] = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(tp[i] + fn[i]),
            "tp": int(tp[i]),
            "fp": int(fp[i]),
            "fn": int(fn[i]),
            "auc": aucs[i],
        }
        for i, name in enumerate(names)
    }
    return result


def apply_thresholds(y_score: numpy.ndarray, thresholds: numpy.ndarray) -> numpy.ndarray:
    """The 0/1 prediction: score >= threshold, in float32 as `schemes.decode` compares.

    y_score: (n_tokens, n_columns) probabilities. thresholds: a scalar or (n_columns,) per-column thresholds.
    RETURNS: bool array (n_tokens, n_columns).
    """
    return numpy.asarray(y_score, dtype="float32") >= numpy.asarray(thresholds, dtype="float32")


# ---------------------------------------------------------------------------------------------------------------
# Threshold search and curves
# ---------------------------------------------------------------------------------------------------------------


class GridCounts(NamedTuple):
    """True positives, false positives and false negatives per grid threshold and column.

    grid: (n_thresholds,) thresholds. tp, fp, fn: int64 arrays of shape (n_thresholds, n_columns).
    """

    grid: numpy.ndarray
    tp: numpy.ndarray
    fp: numpy.ndarray
    fn: numpy.ndarray

    def pooled(self, columns: Optional[Sequence[int]] = None) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
        """tp, fp, fn summed over `columns` (default all): three arrays of shape (n_thresholds,)."""
        idx = slice(None) if columns is None else list(columns)
        return self.tp[:, idx].sum(axis=1), self.fp[:, idx].sum(axis=1), self.fn[:, idx].sum(axis=1)


def grid_counts(y_true: numpy.ndarray, y_score: numpy.ndarray, grid: numpy.ndarray = THRESHOLD_GRID) -> GridCounts:
    """Counts at every grid threshold in one pass (histogram of the scores over the sorted grid).

    y_true: 0/1 array (n_tokens, n_columns). y_score: probabilities of the same shape.
    grid: increasing thresholds, shape (n_thresholds,).
    """
    y_true = numpy.asarray(y_true).astype(bool)
    y_score = numpy.asarray(y_score, dtype="float32")
    if y_true.shape != y_score.shape or y_true.ndim != 2:
        raise ValueError(f"gold {y_true.shape} and score {y_score.shape} matrices must be the same 2-d shape")
    grid32 = numpy.asarray(grid, dtype="float32")
    if numpy.any(numpy.diff(grid32) <= 0):
        raise ValueError("the threshold grid must be strictly increasing")
    n_grid, n_columns = len(grid32), y_true.shape[1]
    # bin = number of thresholds <= score, so the token is positive at grid[k] exactly when bin > k.
    bins = numpy.searchsorted(grid32, y_score, side="right")
    offsets = bins + (n_grid + 1) * numpy.arange(n_columns)[None, :]
    size = (n_grid + 1) * n_columns
    pos = numpy.bincount(offsets[y_true], minlength=size).reshape(n_columns, n_grid + 1)
    neg = numpy.bincount(offsets[~y_true], minlength=size).reshape(n_columns, n_grid + 1)
    # predicted positive at grid[k]: bins k+1 .. n_grid, a reversed cumulative sum
    tp = numpy.cumsum(pos[:, ::-1], axis=1)[:, ::-1][:, 1:].T
    fp = numpy.cumsum(neg[:, ::-1], axis=1)[:, ::-1][:, 1:].T
    fn = y_true.sum(axis=0)[None, :] - tp
    return GridCounts(numpy.asarray(grid, dtype="float64"), tp.astype("int64"), fp.astype("int64"), fn.astype("int64"))


def f1_curve(tp: numpy.ndarray, fp: numpy.ndarray, fn: numpy.ndarray) -> numpy.ndarray:
    """F1 per entry of count arrays (per threshold, per column); 0 where undefined."""
    tp, fp, fn = (numpy.asarray(a, dtype="float64") for a in (tp, fp, fn))
    denominator = 2 * tp + fp + fn
    return numpy.divide(2 * tp, denominator, out=numpy.zeros_like(tp), where=denominator > 0)


class ThresholdChoice(NamedTuple):
    """A chosen threshold: shared (`value` a float) or per label (`value` a label -> float mapping).

    f1: the F1 it reached on the data it was chosen on (micro F1 for shared, each label's F1 per label).
    """

    value: float | dict[str, float]
    f1: float | dict[str, float]


def best_on_grid(grid: numpy.ndarray, f1: numpy.ndarray) -> tuple[float, float]:
    """The threshold of maximal F1. Ties: the middle of the first plateau of maximal F1, the choice least
    sensitive to the shift between the data it is chosen on and the data it is applied to."""
    first = int(numpy.argmax(f1))
    last = first
    while last + 1 < len(f1) and numpy.isclose(f1[last + 1], f1[first], rtol=0.0, atol=1e-12):
        last += 1
    k = (first + last) // 2
    return float(grid[k]), float(f1[k])


def select_threshold(
    y_true: numpy.ndarray,
    y_score: numpy.ndarray,
    column_labels: Sequence[str],
    per_label: bool = False,
    grid: numpy.ndarray = THRESHOLD_GRID,
) -> ThresholdChoice:
    """The threshold(s) that maximise F1 on (y_true, y_score), searched over `grid`.

    y_true, y_score: (n_tokens, n_columns) gold matrix and probabilities.
    column_labels: the label of each column (BIO: a label's `B-` and `I-` columns both name it, and share
        its threshold, as in `schemes.decode`).
    per_label: False: one shared threshold maximising micro F1 over every column (the paper);
        True: for each label, the threshold maximising the F1 of its own columns pooled.
    """
    counts = grid_counts(y_true, y_score, grid)
    if not per_label:
        return ThresholdChoice(*best_on_grid(counts.grid, f1_curve(*counts.pooled())))
    values: dict[str, float] = {}
    scores: dict[str, float] = {}
    for label in dict.fromkeys(column_labels):
        columns = [i for i, name in enumerate(column_labels) if name == label]
        values[label], scores[label] = best_on_grid(counts.grid, f1_curve(*counts.pooled(columns)))
    return ThresholdChoice(values, scores)


def pr_curves(
    y_true: numpy.ndarray, y_score: numpy.ndarray, names: Sequence[str], grid: numpy.ndarray = THRESHOLD_GRID
) -> list[dict[str, Any]]:
    """Precision-recall curves at the grid thresholds, per column and micro-averaged.

    RETURNS: rows {"series": name or "micro", "threshold", "precision", "recall", "f1", "tp", "fp", "fn"},
        n_thresholds rows per series (the CSV behind the figure). Precision is 1.0 where nothing is predicted
        (scikit-learn's `precision_recall_curve` convention, so the curve ends at the top left).
    """
    counts = grid_counts(y_true, y_score, grid)
    rows = []
    series = [(name, [i]) for i, name in enumerate(names)] + [("micro", None)]
    for name, columns in series:
        tp, fp, fn = counts.pooled(columns)
        f1 = f1_curve(tp, fp, fn)
        for k, threshold in enumerate(counts.grid):
            predicted, positives = tp[k] + fp[k], tp[k] + fn[k]
            rows.append(
                {
                    "series": name,
                    "threshold": float(threshold),
                    "precision": float(tp[k] / predicted) if predicted else 1.0,
                    "recall": float(tp[k] / positives) if positives else 0.0,
                    "f1": float(f1[k]),
                    "tp": int(tp[k]),
                    "fp": int(fp[k]),
                    "fn": int(fn[k]),
                }
            )
    return rows


def roc_curves(y_true: numpy.ndarray, y_score: numpy.ndarray, names: Sequence[str]) -> list[dict[str, Any]]:
    """ROC curves (scikit-learn `roc_curve`, intermediate points dropped), per column and micro-averaged.

    RETURNS: rows {"series", "fpr", "tpr", "threshold"}; a column whose gold is constant has no curve.
    """
    from sklearn.metrics import roc_curve

    y_true = numpy.asarray(y_true).astype(bool)
    y_score = numpy.asarray(y_score, dtype="float64")
    rows = []
    series = [(name, y_true[:, i], y_score[:, i]) for i, name in enumerate(names)]
    series.append(("micro", y_true.ravel(), y_score.ravel()))
    for name, truth, score in series:
        if truth.size == 0 or truth.all() or not truth.any():
            continue
        fpr, tpr, thresholds = roc_curve(truth, score)
        rows.extend(
            {"series": name, "fpr": float(a), "tpr": float(b), "threshold": float(min(t, 1.0))}
            for a, b, t in zip(fpr, tpr, thresholds)
        )
    return rows


# ---------------------------------------------------------------------------------------------------------------
# Entity level
# ---------------------------------------------------------------------------------------------------------------


def span_iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """Intersection over union of two token ranges (start, end), end exclusive."""
    inter = min(a[1], b[1]) - max(a[0], b[0])
    if inter <= 0:
        return 0.0
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def _match_exact(gold: list, pred: list) -> int:
    """Matched pairs of identical keys, one-to-one (a multiset intersection)."""
    remaining: dict[Any, int] = defaultdict(int)
    for key in gold:
        remaining[key] += 1
    matched = 0
    for key in pred:
        if remaining[key] > 0:
            remaining[key] -= 1
            matched += 1
    return matched


def _match_overlap(gold: list[tuple[int, int]], pred: list[tuple[int, int]], min_iou: float) -> int:
    """Largest one-to-one matching of pairs with IoU >= min_iou (ties broken towards larger IoU)."""
    from scipy.optimize import linear_sum_assignment

    if not gold or not pred:
        return 0
    iou = numpy.asarray([[span_iou(g, p) for p in pred] for g in gold])
    valid = iou >= min_iou
    if not valid.any():
        return 0
    # Weight 1 + iou/(n+1) per valid pair: any matching with one more pair outweighs all IoU bonuses,
    # so the assignment maximises the number of matches first.
    n = min(len(gold), len(pred))
    weight = numpy.where(valid, 1.0 + iou / (n + 1), 0.0)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return int(valid[rows, cols].sum())


def entity_metrics(
    gold: Sequence[Iterable[SpanTuple]],
    pred: Sequence[Iterable[SpanTuple]],
    labels: Sequence[str],
    min_iou: float = PARTIAL_MIN_IOU,
) -> dict[str, Any]:
    """Entity-level strict, partial and boundary scores over a corpus.

    gold, pred: one iterable of `(start, end, label)` token spans (end exclusive) per document, same length.
    labels: the labels scored per label and in the macro average (spans of other labels still count in
        `boundary`, which ignores labels, and as errors in micro strict/partial).
    min_iou: the intersection-over-union a partial match needs.
    RETURNS: {mode: {"micro": {precision, recall, f1, tp, fp, fn}, "macro": {precision, recall, f1} or None,
        "per_label": {label: {precision, recall, f1, tp, fp, fn, support}}, "tp", "fp", "fn"}} for mode in
        strict, partial, boundary. Boundary is label-agnostic: its per_label is empty and its macro None.
        Macro is the mean over `labels` of per-label precision, recall and F1 (0 for an undefined label, as
        scikit-learn).
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold documents but {len(pred)} predicted ones")
    counts = {mode: defaultdict(lambda: [0, 0, 0]) for mode in ("strict", "partial")}
    boundary = [0, 0, 0]
    for doc_gold, doc_pred in zip(gold, pred):
        doc_gold = [(int(s), int(e), str(lab)) for s, e, lab in doc_gold]
        doc_pred = [(int(s), int(e), str(lab)) for s, e, lab in doc_pred]
        by_label: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
        for span in doc_gold:
            by_label[span[2]][0].append(span[:2])
        for span in doc_pred:
            by_label[span[2]][1].append(span[:2])
        for label, (g, p) in by_label.items():
            for mode, matched in (("strict", _match_exact(g, p)), ("partial", _match_overlap(g, p, min_iou))):
                counts[mode][label][0] += matched
                counts[mode][label][1] += len(p) - matched
                counts[mode][label][2] += len(g) - matched
        matched = _match_exact([s[:2] for s in doc_gold], [s[:2] for s in doc_pred])
        boundary[0] += matched
        boundary[1] += len(doc_pred) - matched
        boundary[2] += len(doc_gold) - matched
    result: dict[str, Any] = {}
    for mode, per in counts.items():
        tp, fp, fn = (sum(c[i] for c in per.values()) for i in range(3))
        per_label = {}
        for label in labels:
            label_tp, label_fp, label_fn = per.get(label, [0, 0, 0])
            per_label[label] = {**_prf_dict(label_tp, label_fp, label_fn), "support": label_tp + label_fn}
        macro = (
            {k: float(numpy.mean([per_label[label][k] for label in labels])) for k in ("precision", "recall", "f1")}
            if labels
            else None
        )
        result[mode] = {
            "micro": _prf_dict(tp, fp, fn),
            "macro": macro,
            "per_label": per_label,
            "tp": tp,
            "fp": fp,
            "fn": fn,
        }
    result["boundary"] = {
        "micro": _prf_dict(*boundary),
        "macro": None,
        "per_label": {},
        "tp": boundary[0],
        "fp": boundary[1],
        "fn": boundary[2],
    }
    return result
