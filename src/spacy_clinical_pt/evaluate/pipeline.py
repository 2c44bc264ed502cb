"""`evaluate_pipeline`: a pipeline's token- and entity-level metrics on gold docs, at the thresholds a policy gives."""

from __future__ import annotations

from typing import Any, Optional, Sequence, Union

from spacy.language import Language
from spacy.tokens import Doc

from ..metrics import (
    ThresholdChoice,
    apply_thresholds,
    entity_metrics,
    f1_curve,
    grid_counts,
    pr_curves,
    roc_curves,
    token_metrics,
)
from ..schemes import column_label
from ..thresholds import Thresholds, ThresholdValue, deciding_components
from .assertion import assertion_section
from .choose import NEEDS_DEV, check_policy, choose_threshold, policy_description, select_entity_threshold
from .choose import tune_continuation
from .matrices import decoded_spans, label_matrix_name, pred_label_matrix, token_matrices
from .run import DocResult, Evaluation, Progress, corpus_counts, pipeline_setup, run_pipeline
from .spans import TOKEN_UNIT, evaluate_span_classifier


def evaluate_pipeline(
    nlp: Language,
    test_docs: Sequence[Doc],
    dev_docs: Optional[Sequence[Doc]] = None,
    *,
    policy: str = "dev",
    per_label: bool = False,
    threshold: Optional[Union[Thresholds, ThresholdValue]] = None,
    gold_key: str = "sc",
    spans_key: Optional[str] = None,
    component: Optional[str] = None,
    batch_size: int = 32,
    objective: str = "token",
    tune_continue: bool = False,
    progress: Optional[Progress] = None,
) -> Evaluation:
    """Evaluate `nlp` on gold docs: token- and entity-level metrics at the threshold the policy gives.

    test_docs, dev_docs: gold docs with entities in `doc.spans[gold_key]` (dev only for the dev policy).
    policy: "dev", "oracle" or "fixed" (ignored for span-only pipelines, scored at their output).
    per_label: one threshold per label instead of one shared.
    threshold: the fixed policy's thresholds (default: the deciding component's own).
    spans_key: the key the pipeline writes (default: see `thresholds.deciding_components`). component: the
        tagger's name.
    objective: what the dev/oracle threshold maximises: "token" (token micro F1, the paper) or "entity"
        (exact-span F1).
    tune_continue: BIO or BIOE, dev/oracle policy, entity objective, shared threshold: choose the start and the
        continuation threshold (`schemes.decode`) together by exact-span micro F1 where the threshold is chosen;
        otherwise the tagger's own `continue_threshold` is used.
    progress: wraps each run of the pipeline (a progress bar; see `run.run_pipeline`).
    RETURNS: an `Evaluation` (metrics dict without provenance; the command adds it) with the chosen thresholds.
        The pipeline is left as it was: `Evaluation.thresholds.apply_to(nlp)` makes it decode as evaluated.
        With a `clinical_context` and gold assertion, metrics["assertion"] scores it (`assertion.py`).
    """
    check_policy(policy)
    fixed = None if threshold is None else Thresholds.of(threshold)
    tagger, classifier = deciding_components(nlp, component, spans_key)
    if classifier is not None:
        if tune_continue:
            raise ValueError(
                f"the pipeline's output comes from the span classifier {classifier.name!r}, which has one threshold "
                "on span scores: there is no continuation threshold to tune"
            )
        evaluation = evaluate_span_classifier(
            nlp, classifier, test_docs, dev_docs, policy=policy, per_label=per_label, threshold=fixed,
            gold_key=gold_key, batch_size=batch_size, progress=progress,
        )
    elif tagger is None:
        evaluation = evaluate_spans_output(nlp, test_docs, gold_key, spans_key, batch_size, progress)
    else:
        evaluation = _evaluate_with_tagger(nlp, tagger, test_docs, dev_docs, policy, per_label, fixed, gold_key,
                                           spans_key, batch_size, objective, tune_continue, progress)
    section = assertion_section(nlp, test_docs, evaluation.predicted, gold_key)
    if section is not None:
        evaluation.metrics["assertion"] = section
    return evaluation


def _evaluate_with_tagger(
    nlp: Language, tagger: Any, test_docs: Sequence[Doc], dev_docs: Optional[Sequence[Doc]], policy: str,
    per_label: bool, fixed: Optional[Thresholds], gold_key: str, spans_key: Optional[str], batch_size: int,
    objective: str, tune_continue: bool, progress: Optional[Progress],
) -> Evaluation:
    """`evaluate_pipeline` for a `clinical_tagger` deciding the output: the pipeline run on test (and dev), then
    `evaluate_tagger` on the stored probabilities."""
    if policy == "dev" and dev_docs is None:
        raise ValueError(NEEDS_DEV)
    test, lost = run_pipeline(nlp, test_docs, gold_key, spans_key, tagger, batch_size, progress=progress)
    dev = None
    if policy == "dev":
        dev, _ = run_pipeline(nlp, dev_docs, gold_key, spans_key, tagger, batch_size, progress=progress, desc="dev")
    # The tagger's own continuation threshold unless one is given.
    carry = tagger.continue_threshold if fixed is None or fixed.continuation is None else fixed.continuation
    given = Thresholds(tagger.threshold if fixed is None else fixed.start, carry)
    return evaluate_tagger(nlp, tagger, test, lost, dev, policy=policy, per_label=per_label, fixed=given,
                           objective=objective, tune_continue=tune_continue)


def evaluate_spans_output(
    nlp: Language, test_docs: Sequence[Doc], gold_key: str, spans_key: Optional[str], batch_size: int,
    progress: Optional[Progress] = None,
) -> Evaluation:
    """A span-only pipeline (rules, LLMs: anything writing `doc.spans[spans_key]`, "sc" by default) scored at its
    fixed output: entity level, and the token level of its spans; labels: those of gold and prediction."""
    test, lost = run_pipeline(nlp, test_docs, gold_key, spans_key, None, batch_size, progress=progress)
    labels = sorted({s[2] for doc in test for s in doc.gold} | {s[2] for doc in test for s in doc.pred})
    y_true, y_pred = pred_label_matrix(test, labels)
    metrics: dict[str, Any] = {
        "token_unit": TOKEN_UNIT,
        "counts": corpus_counts(test, lost),
        "pipeline_kind": "spans",
        "pipeline_setup": pipeline_setup(nlp),
        "scheme": None,
        "labels": labels,
        "threshold": {"policy": "output", "description": policy_description("output"), "value": None},
        "token": {"IO": token_metrics(y_true, y_pred, labels)},
        "entity": entity_metrics([doc.gold for doc in test], [doc.pred for doc in test], labels),
    }
    return Evaluation(metrics, predicted=[doc.pred for doc in test])


def evaluate_tagger(
    nlp: Language,
    tagger: Any,
    test: Sequence[DocResult],
    lost: int,
    dev: Optional[Sequence[DocResult]],
    *,
    policy: str,
    per_label: bool,
    fixed: Thresholds,
    objective: str,
    tune_continue: bool,
) -> Evaluation:
    """The metrics of a `clinical_tagger`'s output from the stored probabilities of the test (and dev) docs.

    lost: the gold spans lost in alignment. fixed: the fixed policy's thresholds (its continuation threshold is
    used unless `tune_continue`). The other arguments: as `evaluate_pipeline`.
    """
    labels, scheme = list(tagger.labels), tagger.scheme
    # IO columns are named by their label ("Problema", not "I-Problema"), as span-only pipelines are,
    # so that `compare` lines up per-label figures of every kind of pipeline.
    names = list(labels) if scheme == "IO" else list(tagger.columns)
    column_labels = [column_label(c) for c in tagger.columns]
    matrices = token_matrices(test, labels, scheme)
    dev_matrices = token_matrices(dev, labels, scheme) if dev is not None else None
    orphan = bool(tagger.cfg.get("bio_start_on_orphan_i", False))

    def entity_choice(which: str) -> ThresholdChoice:
        return select_entity_threshold(test if which == "test" else dev, labels, scheme, per_label, orphan)

    section = choose_threshold(policy, per_label, labels, scheme, matrices, dev_matrices, fixed, objective,
                               entity_choice)
    if tune_continue:
        chosen = tune_continuation(section, test if policy == "oracle" else dev, labels, scheme, orphan)
    else:
        chosen = Thresholds(section["value"], fixed.continuation)
        if fixed.continuation is not None:
            section["continue_threshold"] = {"value": fixed.to_cfg()["continue_threshold"],
                                             "chosen_on": "the pipeline's own"}
    start, _ = chosen.vectors(column_labels)
    token = {scheme: token_metrics(matrices.gold_columns, apply_thresholds(matrices.scores, start), names,
                                   matrices.scores)}
    if scheme != "IO":
        collapsed = apply_thresholds(matrices.label_scores, chosen.vectors(labels)[0])
        token[label_matrix_name(scheme)] = token_metrics(matrices.gold_labels, collapsed, labels, matrices.label_scores)
    # The shared-threshold micro F1 across the grid on test: how much the choice of threshold matters.
    counts = grid_counts(matrices.gold_columns, matrices.scores)
    section["test_micro_f1_by_threshold"] = {
        f"{t:.2f}": round(float(f), 6) for t, f in zip(counts.grid, f1_curve(*counts.pooled()))
    }
    pred_spans = decoded_spans(test, labels, scheme, chosen.start, orphan, chosen.continuation)
    metrics: dict[str, Any] = {
        "token_unit": TOKEN_UNIT,
        "counts": corpus_counts(test, lost),
        "pipeline_kind": "clinical_tagger",
        "pipeline_setup": pipeline_setup(nlp, tagger),
        "component": tagger.name,
        "scheme": scheme,
        "labels": labels,
        "columns": names,
        "gold_labels_unknown_to_pipeline": sorted({s[2] for doc in test for s in doc.gold} - set(labels)),
        "threshold": section,
        "token": token,
        "entity": entity_metrics([doc.gold for doc in test], pred_spans, labels),
    }
    return Evaluation(
        metrics,
        pr_rows=pr_curves(matrices.gold_columns, matrices.scores, names),
        roc_rows=roc_curves(matrices.gold_columns, matrices.scores, names),
        thresholds=chosen,
        predicted=[list(spans) for spans in pred_spans],
    )
