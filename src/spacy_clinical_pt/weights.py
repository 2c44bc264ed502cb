"""Per-column positive weights for the binary cross-entropy loss of the clinical tagger.

Methods (`class_weighting` of the `clinical_tagger` component):
- `none`: every column weighs 1.
- `inverse_doc_freq`: the paper's `w_c = N_c' / N_c`, documents without column c over documents with it.
- `inverse_doc_freq_clamped`: the same, never below 1.0 (the paper's clamped variant; our default).
- `inverse_token_freq`: tokens without over tokens with the column, square-root damped (a raw token ratio of a
  few hundred makes the model say "yes" everywhere).

Why the clamp matters: on a small clinical corpus almost every note holds every label, so `N_c'` is 0 or tiny
and the paper's weight collapses (NestedClinBr: `Problema` 0.000, `Anatomia` 0.08) -- positives get weighted
*down* and the model learns to answer "no" everywhere. Weights below 1 and weights of 0 are therefore warned
about, and no method ever divides by zero: a column found in no document gets weight 1.
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Iterable, Sequence

import numpy

from .schemes import columns, encode

logger = logging.getLogger("spacy_clinical_pt")

WEIGHTING_METHODS: tuple[str, ...] = ("none", "inverse_doc_freq", "inverse_doc_freq_clamped", "inverse_token_freq")


class ClassWeightWarning(UserWarning):
    """A class weight below 1 (positives weighted down), zero, or undefined (column never seen)."""


def check_method(method: str) -> str:
    """Return `method` or raise a ValueError naming the accepted values."""
    if method not in WEIGHTING_METHODS:
        raise ValueError(f"unknown class_weighting {method!r}: use one of {', '.join(WEIGHTING_METHODS)}")
    return method


def column_counts(matrices: Iterable[numpy.ndarray]) -> dict[str, numpy.ndarray]:
    """Count documents and tokens with and without each column.

    matrices: one 0/1 array per document, shape (n_tokens, n_columns), as made by `schemes.encode`.
    RETURNS: {"docs": scalar, "docs_with": (n_columns,), "tokens": scalar, "tokens_with": (n_columns,)}.
    """
    n_docs, n_tokens = 0, 0
    docs_with: numpy.ndarray | None = None
    tokens_with: numpy.ndarray | None = None
    for matrix in matrices:
        present = (matrix > 0).sum(axis=0)
        docs_with = (present > 0).astype("int64") if docs_with is None else docs_with + (present > 0)
        tokens_with = present.astype("int64") if tokens_with is None else tokens_with + present
        n_docs += 1
        n_tokens += matrix.shape[0]
    if docs_with is None or tokens_with is None:
        raise ValueError("cannot compute class weights from an empty training set")
    return {
        "docs": numpy.int64(n_docs),
        "docs_with": docs_with,
        "tokens": numpy.int64(n_tokens),
        "tokens_with": tokens_with,
    }


def weights_from_counts(counts: dict[str, numpy.ndarray], names: Sequence[str], method: str) -> dict[str, float]:
    """Turn `column_counts` into one weight per column name, warning about weights below 1, zero or undefined.

    names: the column names, in column order (their number must match the counts).
    method: one of WEIGHTING_METHODS.
    RETURNS: {column name: weight}.
    """
    check_method(method)
    if len(names) != len(counts["docs_with"]):
        raise ValueError(f"{len(names)} column names for {len(counts['docs_with'])} counted columns")
    weights: dict[str, float] = {}
    for i, name in enumerate(names):
        if method == "none":
            weights[name] = 1.0
            continue
        if method == "inverse_token_freq":
            with_c, total = int(counts["tokens_with"][i]), int(counts["tokens"])
            unit = "tokens"
        else:
            with_c, total = int(counts["docs_with"][i]), int(counts["docs"])
            unit = "documents"
        if with_c == 0:
            warnings.warn(
                f"class weight for {name}: no training {unit} hold it; using weight 1.0",
                ClassWeightWarning,
                stacklevel=2,
            )
            weights[name] = 1.0
            continue
        ratio = (total - with_c) / with_c
        if method == "inverse_token_freq":
            ratio = math.sqrt(ratio)
        if method == "inverse_doc_freq_clamped":
            ratio = max(ratio, 1.0)
        if ratio == 0.0:
            warnings.warn(
                f"class weight for {name} is 0: every training {unit[:-1]} holds it, so its positives would not "
                f"count in the loss; use class_weighting 'inverse_doc_freq_clamped' or 'none'",
                ClassWeightWarning,
                stacklevel=2,
            )
        elif ratio < 1.0:
            warnings.warn(
                f"class weight for {name} is {ratio:.3f} < 1: its positives are weighted down; "
                f"use class_weighting 'inverse_doc_freq_clamped' to keep weights at 1 or more",
                ClassWeightWarning,
                stacklevel=2,
            )
        weights[name] = float(ratio)
    return weights


def class_weights(
    docs: Iterable, labels: Sequence[str], scheme: str, method: str, *, spans_key: str = "sc"
) -> dict[str, float]:
    """Positive weights per output column, computed from annotated training documents, and logged.

    docs: spaCy `Doc`s with their gold spans in `doc.spans[spans_key]`.
    labels: the component's labels (spans of other labels are ignored).
    scheme: "IO", "BIO" or "BIOE": which columns are weighted.
    method: one of WEIGHTING_METHODS.
    RETURNS: {column name: weight}, in column order.
    """
    check_method(method)
    names = columns(labels, scheme)
    if method == "none":
        weights = {name: 1.0 for name in names}
    else:
        known = set(labels)
        matrices = (
            encode([s for s in doc.spans.get(spans_key, []) if s.label_ in known], len(doc), labels, scheme)
            for doc in docs
        )
        weights = weights_from_counts(column_counts(matrices), names, method)
    logger.info("class weights (%s): %s", method, format_weights(weights))
    return weights


def format_weights(weights: dict[str, float]) -> str:
    """One line for logs: `I-Problema 1.000, I-Anatomia 2.500`."""
    return ", ".join(f"{name} {value:.3f}" for name, value in weights.items())
