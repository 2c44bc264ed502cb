"""Token matrices of a corpus (gold and probabilities, real tokens only) and spans re-decoded at a threshold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy

from ..metrics import SpanTuple, token_label_matrix
from ..schemes import columns, decode, label_probabilities
from ..thresholds import ThresholdValue
from .run import DocResult


@dataclass
class TokenMatrices:
    """The stacked token matrices of a corpus, real tokens only.

    gold_columns: (n_tokens, n_columns) 0/1 gold in the model's columns. scores: probabilities, same shape.
    gold_labels: (n_tokens, n_labels) 0/1 gold per entity type. label_scores: max of the label's columns (BIO, BIOE),
    the scores themselves (IO).
    """

    gold_columns: numpy.ndarray
    scores: numpy.ndarray
    gold_labels: numpy.ndarray
    label_scores: numpy.ndarray
    n_space: int


def label_matrix_name(scheme: Optional[str]) -> str:
    """The key in metrics.json's `token` section of the matrix scored per entity type: the IO matrix itself (IO
    taggers and span-only pipelines, scheme None), else the model's columns collapsed to labels,
    `<scheme>_collapsed`."""
    return "IO" if scheme in (None, "IO") else f"{scheme}_collapsed"


def token_matrices(docs: Sequence[DocResult], labels: Sequence[str], scheme: str) -> TokenMatrices:
    """Stack the documents' gold and probability matrices, dropping whitespace tokens (`metrics.token_label_matrix`)."""
    n_columns = len(columns(labels, scheme))
    parts: list[tuple[numpy.ndarray, ...]] = []
    n_space = 0
    for doc in docs:
        n_space += int(doc.space.sum())
        gold_columns = token_label_matrix(doc.gold, doc.space, labels, scheme)
        gold_labels = token_label_matrix(doc.gold, doc.space, labels)
        probs = doc.probs[~doc.space]
        label_scores = label_probabilities(probs, scheme)
        parts.append((gold_columns, probs, gold_labels, label_scores))
    if not parts:
        empty_c, empty_l = numpy.zeros((0, n_columns), "float32"), numpy.zeros((0, len(labels)), "float32")
        return TokenMatrices(empty_c, empty_c, empty_l, empty_l, 0)
    stacked = [numpy.concatenate(arrays, axis=0) for arrays in zip(*parts)]
    return TokenMatrices(*stacked, n_space=n_space)


def pred_label_matrix(
    docs: Sequence[DocResult], labels: Sequence[str], pred_spans: Optional[Sequence[Sequence[SpanTuple]]] = None
) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Gold and predicted token x label matrices from spans (span-only pipelines), real tokens only.

    pred_spans: the predicted spans of each doc (default: `doc.pred`).
    """
    gold, pred = [], []
    for k, doc in enumerate(docs):
        spans = doc.pred if pred_spans is None else pred_spans[k]
        gold.append(token_label_matrix(doc.gold, doc.space, labels))
        pred.append(token_label_matrix(spans, doc.space, labels))
    if not docs:
        return numpy.zeros((0, len(labels))), numpy.zeros((0, len(labels)))
    return numpy.concatenate(gold), numpy.concatenate(pred)


def decoded_spans(
    docs: Sequence[DocResult],
    labels: Sequence[str],
    scheme: str,
    threshold: ThresholdValue,
    orphan: bool = False,
    continue_threshold: Optional[ThresholdValue] = None,
) -> list[list[SpanTuple]]:
    """The `(start, end, label)` spans `schemes.decode` gives for each doc's probabilities at these thresholds."""
    return [
        [
            (s.start, s.end, s.label)
            for s in decode(doc.probs, labels, scheme, threshold, orphan, doc.space, continue_threshold)
        ]
        for doc in docs
    ]
