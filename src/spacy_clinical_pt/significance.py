"""Model comparison tests: a Friedman test across models over shared blocks, then pairwise Wilcoxon signed-rank
tests with Holm's correction (as the BioBERTpt paper). `compare.label_blocks` builds the blocks from run folders."""

from __future__ import annotations

from itertools import combinations
from typing import Any, Mapping, Sequence

import numpy
from scipy import stats


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order.

    With the m p-values sorted ascending, p_(1) <= ... <= p_(m): adjusted p_(i) = max over j <= i of
    min(1, (m - j + 1) p_(j)) (the running maximum keeps the adjusted values in the same order).
    """
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(pvalues[i])))
        adjusted[i] = running
    return adjusted


def friedman_wilcoxon(scores: Mapping[str, Sequence[float]], alpha: float = 0.05) -> dict[str, Any]:
    """Friedman test across models, then pairwise Wilcoxon signed-rank tests with Holm's correction.

    scores: model -> its scores on the shared blocks, all of the same length (blocks x models, e.g. per-label F1).
    alpha: the level the "significant" flags use.
    RETURNS: {"friedman": {"statistic", "pvalue", "models", "blocks"}, "pairwise": [{"a", "b", "statistic",
        "pvalue", "pvalue_holm", "significant", "median_difference"}]}.
    """
    names = list(scores)
    if len(names) < 3:
        raise ValueError(
            f"the Friedman test needs at least 3 models, got {len(names)} ({', '.join(names) or 'none'}); "
            "with two models, read their pairwise Wilcoxon test instead"
        )
    lengths = {len(v) for v in scores.values()}
    if len(lengths) != 1:
        raise ValueError(f"every model needs a score for the same blocks; got lengths {sorted(lengths)}")
    n_blocks = lengths.pop()
    if n_blocks < 2:
        raise ValueError(
            f"the Friedman test needs at least 2 blocks (labels x runs shared by all models), got {n_blocks}"
        )
    matrix = numpy.asarray([scores[n] for n in names], dtype=float)
    statistic, pvalue = stats.friedmanchisquare(*matrix)
    pairs = list(combinations(range(len(names)), 2))
    raw, rows = [], []
    for a, b in pairs:
        difference = matrix[a] - matrix[b]
        if not numpy.any(difference):
            # Identical scores on every block: no evidence of a difference (scipy refuses this case).
            w, p = None, 1.0
        else:
            result = stats.wilcoxon(matrix[a], matrix[b])
            w, p = float(result.statistic), float(result.pvalue)
        raw.append(p)
        rows.append(
            {
                "a": names[a],
                "b": names[b],
                "statistic": w,
                "pvalue": p,
                "median_difference": float(numpy.median(difference)),
            }
        )
    for row, adjusted in zip(rows, holm(raw)):
        row["pvalue_holm"] = adjusted
        row["significant"] = bool(adjusted < alpha)
    friedman = {
        "statistic": float(statistic),
        "pvalue": float(pvalue),
        "models": names,
        "blocks": n_blocks,
        "significant": bool(pvalue < alpha),
    }
    return {"alpha": alpha, "friedman": friedman, "pairwise": rows}
