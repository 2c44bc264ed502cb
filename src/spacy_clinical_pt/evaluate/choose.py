"""Choosing thresholds: the policy (dev, oracle, fixed), shared or per label, by token or exact-span F1, and the
BIO/BIOE start and continuation thresholds together. The threshold section of metrics.json says what was chosen."""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy

from ..metrics import THRESHOLD_GRID, ThresholdChoice, best_on_grid, entity_metrics, select_threshold
from ..schemes import column_label, columns
from ..thresholds import Thresholds
from .matrices import TokenMatrices, decoded_spans
from .run import DocResult

POLICIES = ("dev", "oracle", "fixed")
NEEDS_DEV = "threshold policy 'dev' needs a dev set: pass --dev DEV.spacy (or --threshold-policy oracle/fixed)"
ORACLE_NOTE = "oracle (threshold chosen on the test set, as in the paper: optimistic)"
OBJECTIVES = {
    ("token", False): "micro F1 over the model's columns",
    ("token", True): "F1 of each label's columns",
    ("entity", False): "entity strict micro F1 (exact spans decoded at each threshold)",
    ("entity", True): "entity strict F1 of each label (exact spans decoded at each threshold)",
}


def policy_description(policy: str) -> str:
    """How a policy reads in every output; the oracle one always says it is optimistic."""
    return {
        "dev": "dev (threshold chosen on the dev set, applied to the test set)",
        "oracle": ORACLE_NOTE,
        "fixed": "fixed (threshold given, not tuned)",
        "output": "none (span-only pipeline: its fixed output is scored)",
    }[policy]


def check_policy(policy: str) -> str:
    """Return `policy`, or raise a ValueError naming the accepted ones."""
    if policy not in POLICIES:
        raise ValueError(f"unknown threshold policy {policy!r}: use dev, oracle or fixed")
    return policy


def choose_threshold(
    policy: str,
    per_label: bool,
    labels: Sequence[str],
    scheme: str,
    test: TokenMatrices,
    dev: Optional[TokenMatrices],
    fixed: Thresholds,
    objective: str = "token",
    entity_choice: Optional[Callable[[str], ThresholdChoice]] = None,
) -> dict[str, Any]:
    """The threshold section of metrics.json: policy, value(s), where they were chosen, F1 there.

    objective "token": chosen on the model's own columns (IO labels, or BIO `B-`/`I-` columns sharing their
    label's threshold), by micro F1 (shared) or each label's F1 (per label), over `metrics.THRESHOLD_GRID` (the
    paper's way). objective "entity": by exact-span F1 of the spans decoded at each threshold; `entity_choice(which)`
    ("test" or "dev") gives that choice (see `select_entity_threshold`). Whatever the policy, `test_optimum`
    gives the best threshold on the test set, for comparison. fixed: the fixed policy's thresholds.
    """
    if objective not in ("token", "entity"):
        raise ValueError(f"unknown threshold objective {objective!r}: use token or entity")
    column_labels = [column_label(c) for c in columns(labels, scheme)]

    def best_on(which: str) -> ThresholdChoice:
        matrices = test if which == "test" else dev
        if matrices is None:
            raise ValueError(NEEDS_DEV)
        if objective == "entity":
            return entity_choice(which)
        return select_threshold(matrices.gold_columns, matrices.scores, column_labels, per_label)

    return threshold_section(policy, per_label, OBJECTIVES[(objective, per_label)], best_on, fixed, labels)


def threshold_section(
    policy: str,
    per_label: bool,
    objective: str,
    best_on: Callable[[str], ThresholdChoice],
    fixed: Thresholds,
    labels: Sequence[str],
    given_as: str = "given",
    grid: numpy.ndarray = THRESHOLD_GRID,
) -> dict[str, Any]:
    """The threshold section of metrics.json for any kind of score: `best_on("test")` / `best_on("dev")` give the
    best threshold(s) on either set (the test one is always reported, as `test_optimum`); objective: the text
    saying what they maximise; fixed: the fixed policy's start threshold(s), completed for every label;
    given_as: the `chosen_on` of a fixed threshold. grid: the thresholds searched (`grid` in the section: first,
    last, step of the regular part; `grid_below` lists the points under its step, if any)."""
    oracle = best_on("test")
    section: dict[str, Any] = {
        "policy": check_policy(policy),
        "description": policy_description(policy),
        "per_label": per_label,
        "grid": [float(grid[grid >= 0.01][0]), float(grid[-1]), 0.01],
        **({"grid_below": [float(t) for t in grid[grid < 0.01]]} if (grid < 0.01).any() else {}),
        "objective": objective,
        "test_optimum": {"value": oracle.value, "f1": oracle.f1},
    }
    if policy == "oracle":
        section.update(value=oracle.value, chosen_on="test", f1_where_chosen=oracle.f1)
    elif policy == "dev":
        choice = best_on("dev")
        section.update(value=choice.value, chosen_on="dev", f1_where_chosen=choice.f1)
    else:
        value = fixed.completed(labels).to_dict()["value"]
        section.update(value=value, chosen_on=given_as, per_label=isinstance(value, dict), f1_where_chosen=None)
    return section


def select_entity_threshold(
    docs: Sequence[DocResult],
    labels: Sequence[str],
    scheme: str,
    per_label: bool = False,
    orphan: bool = False,
    grid: numpy.ndarray = THRESHOLD_GRID,
) -> ThresholdChoice:
    """The threshold(s) maximising exact-span F1 of the spans decoded from `docs`' probabilities.

    per_label: False: one shared threshold, by strict micro F1; True: each label's own threshold, by its strict
        F1 (exact, since each label is decoded from its own columns only). orphan: the tagger's
        `bio_start_on_orphan_i`. Ties: the middle of the first plateau, as `metrics.select_threshold`.
    """
    gold = [doc.gold for doc in docs]
    micro = numpy.zeros(len(grid))
    by_label = {label: numpy.zeros(len(grid)) for label in labels}
    for k, value in enumerate(grid):
        strict = entity_metrics(gold, decoded_spans(docs, labels, scheme, float(value), orphan), labels)["strict"]
        micro[k] = strict["micro"]["f1"]
        for label in labels:
            by_label[label][k] = strict["per_label"][label]["f1"]
    if not per_label:
        return ThresholdChoice(*best_on_grid(grid, micro))
    chosen = {label: best_on_grid(grid, f1) for label, f1 in by_label.items()}
    return ThresholdChoice({k: v[0] for k, v in chosen.items()}, {k: v[1] for k, v in chosen.items()})


def select_bio_thresholds(
    docs: Sequence[DocResult],
    labels: Sequence[str],
    start: float,
    orphan: bool = False,
    grid: numpy.ndarray = THRESHOLD_GRID,
    rounds: int = 2,
    scheme: str = "BIO",
) -> tuple[float, float, float]:
    """BIO/BIOE: shared start and continuation thresholds (see `schemes.decode`) maximising exact-span micro F1.

    Coordinate search from (start, start): the continuation threshold over the grid with the start fixed, then
    the start with the continuation fixed, `rounds` times (a full grid of both is 99 x 99 decodings).
    RETURNS: (start threshold, continuation threshold, strict micro F1 there).
    """
    gold = [doc.gold for doc in docs]

    def f1(begin: float, carry: float) -> float:
        pred = decoded_spans(docs, labels, scheme, begin, orphan, carry)
        return entity_metrics(gold, pred, labels)["strict"]["micro"]["f1"]

    carry, best = start, f1(start, start)
    for _ in range(rounds):
        carry, score = best_on_grid(grid, numpy.asarray([f1(start, float(v)) for v in grid]))
        start, score = best_on_grid(grid, numpy.asarray([f1(float(v), carry) for v in grid]))
        if score <= best + 1e-12:  # no better pair this round: a fixed point of the search
            break
        best = score
    return start, carry, f1(start, carry)


def tune_continuation(
    section: dict[str, Any], docs: Sequence[DocResult], labels: Sequence[str], scheme: str, orphan: bool
) -> Thresholds:
    """Choose the start and continuation thresholds together on `docs` (the set the section's threshold was chosen
    on) and record them in `section`; a ValueError unless the section is a dev/oracle shared threshold chosen by
    exact-span F1 for a BIO or BIOE tagger."""
    if scheme == "IO" or section["policy"] == "fixed" or section["per_label"] or "entity" not in section["objective"]:
        raise ValueError(
            "tuning the continuation threshold needs a BIO or BIOE tagger, the dev or oracle policy, one "
            "shared threshold and --threshold-objective entity"
        )
    value, continue_value, f1 = select_bio_thresholds(docs, labels, section["value"], orphan, scheme=scheme)
    section.update(value=value, f1_where_chosen=f1)
    section["continue_threshold"] = {
        "value": continue_value,
        "chosen_on": section["chosen_on"],
        "objective": "entity strict micro F1, with the start threshold (coordinate search)",
    }
    return Thresholds(value, continue_value)
