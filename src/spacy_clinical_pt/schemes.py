"""IO, BIO and BIOE multilabel token encodings: spans to a token x column 0/1 matrix, and probabilities back to spans.

The benchmark treats NER as multilabel token classification: every output column has its own sigmoid, so a
token can be positive for several labels at once (an `Anatomia` inside a `Problema`).

- `IO`: one column per label, `I-<label>`; a token is 1 when it lies inside any span of that label.
- `BIO`: two columns per label, `B-<label>` then `I-<label>`; the first token of a span is `B`, the others `I`.
- `BIOE`: BIO plus an end column per label, `E-<label>`, on the last token of each span (a one-token span is
  `B` and `E`). Decoding runs as BIO and ends each span on the most probable `E` of its run, and keeps a span
  only when that `E` reaches the threshold: the model says where a span stops (instead of the span stopping
  where the `I` probability first dips), and a span whose end it cannot place is not emitted.

Columns are ordered label by label in the order the labels are given (`["B-A", "I-A", "B-B", "I-B"]` for BIO).
Everything here is plain numpy, so it is tested without spaCy and shared by the component, the class weights
and the metrics.

Limits of the encodings (by design of the paper's method): two spans of the *same* label that touch or overlap
merge into one run in IO; in BIO they stay apart when the second one starts with its own `B`.
"""

from __future__ import annotations

from typing import Iterable, Literal, NamedTuple, Optional, Sequence, Union

import numpy

from .thresholds import DEFAULT_THRESHOLD, Thresholds, ThresholdValue, check_threshold

Scheme = Literal["IO", "BIO", "BIOE"]
SCHEMES: tuple[str, ...] = ("IO", "BIO", "BIOE")
# The columns of one label under each scheme, as prefixes of `<prefix>-<label>`.
PREFIXES: dict[str, tuple[str, ...]] = {"IO": ("I",), "BIO": ("B", "I"), "BIOE": ("B", "I", "E")}
SpanLike = Union[tuple[int, int, str], object]  # (start, end, label) or anything with .start, .end, .label_


class DecodedSpan(NamedTuple):
    """A decoded span in token offsets (end exclusive), its label and its mean token probability."""

    start: int
    end: int
    label: str
    score: float


def check_scheme(scheme: str) -> str:
    """Return `scheme` or raise a ValueError naming the accepted values."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown annotation scheme {scheme!r}: use one of {', '.join(SCHEMES)}")
    return scheme


def columns(labels: Sequence[str], scheme: str) -> list[str]:
    """The output column names for `labels` under `scheme`, label by label (IO: `I-<label>`; BIO: `B-<label>`,
    `I-<label>`; BIOE: `B-<label>`, `I-<label>`, `E-<label>`)."""
    check_scheme(scheme)
    return [f"{prefix}-{label}" for label in labels for prefix in PREFIXES[scheme]]


def label_probabilities(probs: numpy.ndarray, scheme: str) -> numpy.ndarray:
    """Per token and label, the highest probability among the label's columns: (n_tokens, n_labels).

    A token lies inside a span of the label when any of its columns fires, so this is the score that matches the
    IO (label) matrix whatever the scheme; for IO it is `probs` itself.
    """
    width = len(PREFIXES[check_scheme(scheme)])
    probs = numpy.asarray(probs)
    if width == 1:
        return probs
    return probs.reshape(probs.shape[0], -1, width).max(axis=2)


def column_label(column: str) -> str:
    """The label of a column name (`"B-Problema"` -> `"Problema"`)."""
    return column.split("-", 1)[1]


def parse_columns(names: Sequence[str]) -> tuple[list[str], str]:
    """The labels and the scheme whose `columns` are `names` (`["B-A", "I-A"]` -> `(["A"], "BIO")`).

    Raises ValueError for names that no scheme gives.
    """
    for scheme, prefixes in PREFIXES.items():
        labels = [column_label(name) for name in names[:: len(prefixes)] if "-" in name]
        if columns(labels, scheme) == list(names):
            return labels, scheme
    raise ValueError(f"columns {', '.join(names[:6])} are not those of an IO, BIO or BIOE tagger")


def _span_tuple(span: SpanLike) -> tuple[int, int, str]:
    if isinstance(span, tuple):
        start, end, label = span[:3]
        return int(start), int(end), str(label)
    return int(span.start), int(span.end), str(span.label_)  # type: ignore[attr-defined]


def encode(spans: Iterable[SpanLike], n_tokens: int, labels: Sequence[str], scheme: str) -> numpy.ndarray:
    """Encode spans as a 0/1 token x column matrix; overlapping spans simply set several columns.

    spans: `(start, end, label)` tuples in token offsets (end exclusive) or spaCy `Span`s.
    n_tokens: the number of tokens of the document (rows of the result).
    labels: the component's labels, in column order.
    scheme: "IO", "BIO" or "BIOE" (BIO plus an `E` column on each span's last token; a one-token span sets both
        its `B` and its `E`).
    RETURNS: float32 array of shape (n_tokens, n_columns), n_columns = 1, 2 or 3 x len(labels).
    """
    check_scheme(scheme)
    index = {label: i for i, label in enumerate(labels)}
    width = len(PREFIXES[scheme])
    matrix = numpy.zeros((n_tokens, width * len(labels)), dtype="float32")
    for span in spans:
        start, end, label = _span_tuple(span)
        if label not in index:
            known = ", ".join(labels) or "none"
            raise ValueError(f"span {start}-{end} has label {label!r}, which is not among the labels ({known})")
        if not 0 <= start < end <= n_tokens:
            raise ValueError(f"span {start}-{end} ({label}) is outside a document of {n_tokens} tokens")
        column = index[label] * width
        if scheme == "IO":
            matrix[start:end, column] = 1.0
        else:
            matrix[start, column] = 1.0
            matrix[start + 1 : end, column + 1] = 1.0
            if scheme == "BIOE":
                matrix[end - 1, column + 2] = 1.0
    return matrix


def _runs(mask: numpy.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of True in a 1-d boolean array, as (start, end) with end exclusive."""
    padded = numpy.concatenate(([False], mask, [False])).astype("int8")
    edges = numpy.flatnonzero(numpy.diff(padded))
    return [(int(s), int(e)) for s, e in zip(edges[::2], edges[1::2])]


def decode(
    probs: numpy.ndarray,
    labels: Sequence[str],
    scheme: str,
    thresholds: ThresholdValue = DEFAULT_THRESHOLD,
    start_on_orphan_i: bool = False,
    space: Optional[numpy.ndarray] = None,
    continue_thresholds: Optional[ThresholdValue] = None,
) -> list[DecodedSpan]:
    """Decode token probabilities into spans, label by label; spans of different labels may overlap.

    probs: array of shape (n_tokens, n_columns), columns as given by `columns(labels, scheme)`.
    labels: the labels, in column order.
    scheme: "IO" (maximal runs of tokens at or above the threshold), "BIO" (a span starts at a `B` at or above
        the threshold and continues over the following `I`s at or above it) or "BIOE" (as BIO, then the span
        ends on the run's most probable `E` if that reaches the threshold; a run with no such `E` gives no span;
        `start_on_orphan_i` does not apply).
    thresholds: a shared threshold or a per-label mapping (labels left out use `DEFAULT_THRESHOLD`).
    start_on_orphan_i: BIO only: an `I` above the threshold that follows no open span starts one; False (the
        default) drops such tokens.
    space: optional boolean array of shape (n_tokens,), True for whitespace tokens: spans are trimmed so that
        they neither start nor end on one, and spans of whitespace only are dropped (a `Span` of a stray newline
        means nothing, and gold entities never start or end on whitespace).
    continue_thresholds: BIO/BIOE only: the threshold an `I` must reach to continue an open span (shared or per label;
        None: `thresholds`). Lower than `thresholds`, it is a hysteresis: a confident `B` starts the span and
        less confident `I`s carry it to its end.
    RETURNS: `DecodedSpan(start, end, label, score)` sorted by (start, end, label); score is the mean probability
        of the span's tokens (the `B` column for a span's first token in BIO, the `I` column elsewhere).
    """
    check_scheme(scheme)
    probs = numpy.asarray(probs, dtype="float32")
    n_columns = len(columns(labels, scheme))
    if probs.ndim != 2 or probs.shape[1] != n_columns:
        raise ValueError(f"probabilities of shape {probs.shape} do not match {n_columns} {scheme} columns")
    limits, continue_limits = Thresholds(thresholds, continue_thresholds).vectors(labels)
    # (start, label, per-token probabilities) of each run, trimmed and averaged at the end
    runs: list[tuple[int, str, list[float]]] = []
    width = len(PREFIXES[scheme])
    for i, label in enumerate(labels):
        if scheme == "IO":
            column = probs[:, i]
            runs.extend((start, label, list(column[start:end])) for start, end in _runs(column >= limits[i]))
            continue
        begin, inside = probs[:, width * i], probs[:, width * i + 1]
        is_b, is_i = begin >= limits[i], inside >= continue_limits[i]
        if scheme == "BIOE":
            runs.extend(_bioe_runs(begin, inside, probs[:, width * i + 2], is_b, is_i, limits[i], label))
            continue
        start, token_scores = -1, []
        for token in range(probs.shape[0]):
            if is_b[token] or (is_i[token] and start < 0 and start_on_orphan_i):
                if start >= 0:
                    runs.append((start, label, token_scores))
                start = token
                token_scores = [begin[token] if is_b[token] else inside[token]]
            elif is_i[token] and start >= 0:
                token_scores.append(inside[token])
            elif start >= 0:
                runs.append((start, label, token_scores))
                start = -1
        if start >= 0:
            runs.append((start, label, token_scores))
    spans: list[DecodedSpan] = []
    for start, label, token_scores in runs:
        end = start + len(token_scores)
        first, last = start, end
        if space is not None:
            while first < last and space[first]:
                first += 1
            while last > first and space[last - 1]:
                last -= 1
        if first < last:
            spans.append(DecodedSpan(first, last, label, float(numpy.mean(token_scores[first - start : last - start]))))
    spans.sort(key=lambda span: (span.start, span.end, span.label))
    return spans


def _bioe_runs(
    begin: numpy.ndarray,
    inside: numpy.ndarray,
    end: numpy.ndarray,
    is_b: numpy.ndarray,
    is_i: numpy.ndarray,
    end_limit: float,
    label: str,
) -> list[tuple[int, str, list[float]]]:
    """BIOE spans of one label: each `B` opens a run continued by `I`s (as BIO); the span ends on the run's most
    probable `E` when that reaches `end_limit`, and a run without such an `E` gives no span (its end is not
    known). RETURNS (start, label, token scores)."""
    runs: list[tuple[int, str, list[float]]] = []
    n_tokens, token = len(begin), 0
    while token < n_tokens:
        if not is_b[token]:
            token += 1
            continue
        start, stop = token, token + 1
        while stop < n_tokens and is_i[stop] and not is_b[stop]:
            stop += 1
        last = start + int(numpy.argmax(end[start:stop]))
        if end[last] >= end_limit:
            runs.append((start, label, [begin[start], *inside[start + 1 : last + 1]]))
        token = stop
    return runs


def boundary_scores(probs: numpy.ndarray, n_labels: int, scheme: str) -> tuple[numpy.ndarray, ...]:
    """Per token and label, how likely a span starts there, continues over it and ends there.

    RETURNS: (start, inside, end), each of shape (n_tokens, n_labels). BIOE reads its three columns. BIO has no end
    column: a span may end where the next token is unlikely to continue it, `end = 1 - I(next)` (1 on the last
    token). IO has only the inside column: `start = I * (1 - I(previous))`, `inside = I`, `end = I * (1 - I(next))`.
    """
    width = len(PREFIXES[check_scheme(scheme)])
    probs = numpy.asarray(probs, dtype="float32").reshape(-1, n_labels, width)
    inside = probs[:, :, 0] if scheme == "IO" else probs[:, :, 1]
    following = numpy.vstack([inside[1:], numpy.zeros((1, n_labels), dtype="float32")])
    if scheme == "BIOE":
        return probs[:, :, 0], inside, probs[:, :, 2]
    if scheme == "BIO":
        return probs[:, :, 0], inside, 1.0 - following
    preceding = numpy.vstack([numpy.zeros((1, n_labels), dtype="float32"), inside[:-1]])
    return inside * (1.0 - preceding), inside, inside * (1.0 - following)


def candidate_spans(
    probs: numpy.ndarray,
    labels: Sequence[str],
    scheme: str,
    threshold: float = 0.05,
    max_length: int = 24,
    widen: int = 1,
    space: Optional[numpy.ndarray] = None,
) -> list[DecodedSpan]:
    """Generous span proposals from token probabilities, for a span classifier to accept or reject.

    Where `decode` commits to one span per run, this keeps every plausible one: per label, each token whose start
    score reaches `threshold` opens spans that run over tokens whose inside score reaches it, and each token of
    the run whose end score reaches it closes one (`boundary_scores` gives the three scores of each scheme).
    Each proposal is then widened: the spans that move either its start or its end by up to `widen` tokens are
    added, so that a boundary the tagger misses by a token is still among the candidates, and the classifier
    learns from near misses.

    probs: (n_tokens, n_columns), columns as `columns(labels, scheme)`.
    threshold: the probability a start, an inside and an end must each reach; low, to favour recall.
    max_length: the longest candidate, in tokens.
    widen: how many tokens a boundary moves in the widened copies (0: none).
    space: optional (n_tokens,) booleans, True for whitespace tokens: no candidate starts or ends on one.
    RETURNS: one `DecodedSpan` per distinct (start, end), sorted; its label is the label that proposed it with the
        highest score, and its score the product of that label's start and end scores (widened copies: the
        score of the span they came from).
    """
    check_threshold(threshold, "candidates")
    if max_length < 1 or widen < 0:
        raise ValueError(f"max_length must be at least 1 and widen at least 0, got {max_length} and {widen}")
    probs = numpy.asarray(probs, dtype="float32")
    n_columns = len(columns(labels, scheme))
    if probs.ndim != 2 or probs.shape[1] != n_columns:
        raise ValueError(f"probabilities of shape {probs.shape} do not match {n_columns} {scheme} columns")
    n_tokens = probs.shape[0]
    space = numpy.zeros(n_tokens, dtype=bool) if space is None else numpy.asarray(space, dtype=bool)
    start_p, inside_p, end_p = boundary_scores(probs, len(labels), scheme)
    best: dict[tuple[int, int], tuple[float, str]] = {}

    def propose(start: int, end: int, score: float, label: str) -> None:
        if 0 <= start < end <= n_tokens and end - start <= max_length and not space[start] and not space[end - 1]:
            if (start, end) not in best or score > best[(start, end)][0]:
                best[(start, end)] = (score, label)

    for i, label in enumerate(labels):
        for start in numpy.flatnonzero((start_p[:, i] >= threshold) & ~space):
            start = int(start)
            for last in range(start, min(start + max_length, n_tokens)):
                if last > start and inside_p[last, i] < threshold:
                    break
                if end_p[last, i] >= threshold:
                    score = float(start_p[start, i] * end_p[last, i])
                    propose(start, last + 1, score, label)
                    for shift in (s for s in range(-widen, widen + 1) if s):
                        propose(start + shift, last + 1, score, label)
                        propose(start, last + 1 + shift, score, label)
    return sorted(
        (DecodedSpan(start, end, label, score) for (start, end), (score, label) in best.items()),
        key=lambda span: (span.start, span.end),
    )


def label_matrix(spans: Iterable[SpanLike], n_tokens: int, labels: Sequence[str]) -> numpy.ndarray:
    """The token x label 0/1 matrix of shape (n_tokens, n_labels): the IO encoding, whatever the scheme.

    Used for the paper's token-level metrics, so that IO and BIO models are scored on the same matrix.
    """
    return encode(spans, n_tokens, labels, "IO")
