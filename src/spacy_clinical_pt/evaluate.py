"""Evaluate a pipeline on a gold DocBin, as the benchmark paper does and more honestly.

    spacy-clinical-pt evaluate training/model-best corpus/test.spacy --dev corpus/dev.spacy --output eval/

What is measured (see `metrics` for the definitions):
- token level, as the paper: the token x label 0/1 matrix (IO columns; BIO/BIOE: its `B-`/`I-`(/`E-`) columns,
  and collapsed to the entity type with the max of the type's column probabilities), micro and macro precision,
  recall and F1, ROC AUC micro and macro, per label, by the rule of `metrics` that the training scorer shares:
  the unit is the spaCy token of the pipeline's tokenizer, whitespace tokens (`token.is_space`, e.g. a "\\r\\n")
  left out; macro over every label (column), one without gold or predicted tokens counting 0. (The paper's code
  also scored padding and special positions, about a third of all positions on NestedClinBr.)
- entity level: strict, partial (IoU >= 0.5, same label) and label-agnostic boundaries, one-to-one matching.

Thresholds (for pipelines with a `clinical_tagger`, which stores its probabilities in `doc._.clinical_probs`):
- `dev`: chosen on the dev set, applied to the test set (the honest default);
- `oracle`: chosen on the test set itself, as the paper did; every output says so;
- `fixed`: a given value, or the pipeline's own.
Shared (one threshold maximising micro F1, the paper) or per label. The pipeline runs once per DocBin; other
thresholds are applied to the stored probabilities, and spans re-decoded with `schemes.decode`.

Span classifiers (spaCy's `spancat`, alone or deciding on a `clinical_tagger`'s proposals, as in
configs/cnn_tagger_spancat.cfg: the last component to write the evaluated key) score whole spans: the pipeline runs
once with the classifier's threshold at the bottom of the grid, and the threshold on the span scores is chosen as
above (dev, oracle or fixed; by exact-span F1, the only objective a span score has). With `clinical_tagger`
proposals, `candidates` in metrics.json says how many spans were proposed and how many gold spans were among them
(the recall no classifier threshold can exceed).

Other span-only pipelines (LLM pipelines: anything writing `doc.spans[key]`) get entity-level metrics and
token-level metrics of their fixed output.

`pipeline_setup` in metrics.json names what ran, for `aggregate` and `compare`: the tagger's scheme ("BIOE"), a span
classifier deciding on its proposals ("BIOE + spancat"), a span classifier alone ("spancat"), or other span output
("spans").

Outputs in `--output`: `metrics.json`, `report.md`, `pr_curves.csv` + `.png`, `roc_curves.csv` + `.png`.
Bad input (a missing or corrupt file, a pipeline that does not load, a test or dev set without gold spans, an
output folder that cannot be written) is an `error:` line naming it, and exit code 1.
"""

from __future__ import annotations

import datetime
import json
import platform
import socket
import sys
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Callable, Mapping, Optional, Sequence

import numpy
import spacy
import typer
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from tqdm import tqdm

from . import __version__
from .metrics import (
    THRESHOLD_GRID,
    SpanTuple,
    ThresholdChoice,
    apply_thresholds,
    best_on_grid,
    entity_metrics,
    f1_curve,
    grid_counts,
    pr_curves,
    roc_curves,
    select_threshold,
    span_tuples,
    threshold_array,
    token_label_matrix,
    token_metrics,
    whitespace_tokens,
)
from .pipes import find_span_classifier, find_tagger, load_pipeline
from .plots import plot_pr_curves, plot_roc_curves
from .results import git_commit, sha256_of, write_csv
from .schemes import DEFAULT_THRESHOLD, column_label, columns, decode, label_probabilities

NEEDS_DEV = "threshold policy 'dev' needs a dev set: pass --dev DEV.spacy (or --threshold-policy oracle/fixed)"
ORACLE_NOTE = "oracle (threshold chosen on the test set, as in the paper: optimistic)"
TOKEN_UNIT = "spaCy tokens of the pipeline's tokenizer, whitespace tokens (token.is_space) excluded"
TOKEN_MACRO = (
    "Macro: the mean over every label (column) of the pipeline, one without gold or predicted tokens counting 0 "
    "(scikit-learn's multilabel macro average with zero_division=0, as the paper)."
)


class ThresholdPolicy(str, Enum):
    dev = "dev"
    oracle = "oracle"
    fixed = "fixed"


class ThresholdObjective(str, Enum):
    token = "token"
    entity = "entity"


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


def candidates_key(classifier: Any) -> Optional[str]:
    """The `doc.spans` key a span classifier reads its candidates from (`spacy.preset_spans_suggester.v1`), or
    None for other suggesters (n-grams)."""
    keywords = getattr(classifier.suggester, "keywords", None) or {}
    return keywords.get("spans_key")


def pipeline_setup(nlp: Language, tagger: Any = None, classifier: Any = None) -> dict[str, Any]:
    """The `pipeline_setup` section of metrics.json: what produced the evaluated spans.

    tagger: the evaluated `clinical_tagger` (its spans are the output), or None.
    classifier: the span classifier whose spans are the output, or None; the tagger writing its candidates is
        found in `nlp`.
    RETURNS: {"name", "tagger_scheme", "span_classifier"} (the classifier's factory, e.g. "spancat").
    """
    from .tagger import ClinicalTagger

    if classifier is not None:
        proposals = candidates_key(classifier)
        taggers = [pipe for _, pipe in nlp.pipeline if isinstance(pipe, ClinicalTagger)]
        feeding = [t for t in taggers if proposals is not None and t.cfg.get("candidates_key") == proposals]
        scheme = feeding[-1].scheme if feeding else None
        factory = nlp.get_pipe_meta(classifier.name).factory
        name = f"{scheme} + {factory}" if scheme else factory
        return {"name": name, "tagger_scheme": scheme, "span_classifier": factory}
    if tagger is not None:
        return {"name": tagger.scheme, "tagger_scheme": tagger.scheme, "span_classifier": None}
    return {"name": "spans", "tagger_scheme": None, "span_classifier": None}


@dataclass
class DocResult:
    """One document after the pipeline ran: what the metrics need, nothing else (no text).

    space: bool (n_tokens,), True for whitespace tokens. probs: float32 (n_tokens, n_columns) or None.
    gold, pred: `(start, end, label)` spans in the predicted doc's tokens (end exclusive).
    pred_scores: the score of each `pred` span (span classifiers), else None.
    candidates: the `(start, end)` proposals a span classifier chose from (preset suggester), else None.
    """

    space: numpy.ndarray
    probs: Optional[numpy.ndarray]
    gold: list[tuple[int, int, str]]
    pred: list[tuple[int, int, str]]
    pred_scores: Optional[numpy.ndarray] = None
    candidates: Optional[list[tuple[int, int]]] = None


@dataclass
class Evaluation:
    """The result of `evaluate_pipeline`: `metrics` (the JSON of metrics.json) and the curve rows."""

    metrics: dict[str, Any]
    pr_rows: list[dict[str, Any]] = field(default_factory=list)
    roc_rows: list[dict[str, Any]] = field(default_factory=list)


def _same_tokens(a: Doc, b: Doc) -> bool:
    return len(a) == len(b) and all(x.text == y.text and x.whitespace_ == y.whitespace_ for x, y in zip(a, b))


def run_pipeline(
    nlp: Language,
    gold_docs: Sequence[Doc],
    gold_key: str = "sc",
    spans_key: Optional[str] = None,
    tagger: Any = None,
    batch_size: int = 32,
    desc: str = "evaluating",
    candidates: Optional[str] = None,
) -> tuple[list[DocResult], int]:
    """Run `nlp` once over the texts of `gold_docs` and keep what the metrics need.

    gold_key: the `doc.spans` key of the gold entities. spans_key: the key the pipeline writes (default: the
    tagger's key, else "sc"). tagger: the `ClinicalTagger` whose probabilities to keep, or None. candidates: the
    `doc.spans` key of a span classifier's candidates, to keep, or None. The scores of the predicted spans are
    kept when the pipeline stores them (`attrs["scores"]`, as spancat does).
    RETURNS: (one DocResult per document, number of gold spans lost aligning to a different tokenization).
    """
    key = spans_key or (tagger.key if tagger is not None else "sc")
    results, lost = [], 0
    texts = (doc.text for doc in gold_docs)
    predicted = nlp.pipe(texts, batch_size=batch_size)
    for gold_doc, doc in zip(gold_docs, tqdm(predicted, total=len(gold_docs), desc=desc, unit="doc", disable=None)):
        gold_spans = list(gold_doc.spans.get(gold_key, []))
        if _same_tokens(doc, gold_doc):
            gold = span_tuples(gold_spans)
        else:
            # Another tokenizer: map gold spans onto the predicted tokens (spans that cannot map are lost).
            aligned = Example(doc, gold_doc).get_aligned_spans_y2x(gold_spans, allow_overlap=True)
            lost += len(gold_spans) - len(aligned)
            gold = span_tuples(aligned)
        probs = None
        if tagger is not None:
            probs = doc._.get("clinical_probs")
            if probs is None:
                raise ValueError(f"component {tagger.name!r} left no doc._.clinical_probs; was it disabled?")
            probs = numpy.asarray(probs, dtype="float32")
        space = whitespace_tokens(doc)
        group = doc.spans.get(key, [])
        scores = group.attrs.get("scores") if hasattr(group, "attrs") else None
        scores = None if scores is None or len(scores) != len(group) else numpy.asarray(scores, dtype="float32")
        proposed = None
        if candidates is not None:
            proposed = sorted({(int(s.start), int(s.end)) for s in doc.spans.get(candidates, [])})
        results.append(DocResult(space, probs, gold, span_tuples(group), scores, proposed))
    return results, lost


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


def choose_threshold(
    policy: str,
    per_label: bool,
    labels: Sequence[str],
    scheme: str,
    test: TokenMatrices,
    dev: Optional[TokenMatrices],
    fixed: Optional[float | Mapping[str, float]],
    objective: str = "token",
    entity_choice: Optional[Callable[[str], ThresholdChoice]] = None,
) -> dict[str, Any]:
    """The threshold section of metrics.json: policy, value(s), where they were chosen, F1 there.

    objective "token": chosen on the model's own columns (IO labels, or BIO `B-`/`I-` columns sharing their
    label's threshold), by micro F1 (shared) or each label's F1 (per label), over `metrics.THRESHOLD_GRID` (the
    paper's way). objective "entity": by exact-span F1 of the spans decoded at each threshold; `entity_choice(which)`
    ("test" or "dev") gives that choice (see `select_entity_threshold`). Whatever the policy, `test_optimum`
    gives the best threshold on the test set, for comparison.
    """
    if objective not in {o.value for o in ThresholdObjective}:
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
    fixed: Optional[float | Mapping[str, float]],
    labels: Sequence[str],
    given_as: str = "given",
) -> dict[str, Any]:
    """The threshold section of metrics.json for any kind of score: `best_on("test")` / `best_on("dev")` give the
    best threshold(s) on either set (the test one is always reported, as `test_optimum`); objective: the text
    saying what they maximise; given_as: the `chosen_on` of a fixed threshold."""
    oracle = best_on("test")
    section: dict[str, Any] = {
        "policy": policy,
        "description": policy_description(policy),
        "per_label": per_label,
        "grid": [float(THRESHOLD_GRID[0]), float(THRESHOLD_GRID[-1]), 0.01],
        "objective": objective,
        "test_optimum": {"value": oracle.value, "f1": oracle.f1},
    }
    if policy == "oracle":
        section.update(value=oracle.value, chosen_on="test", f1_where_chosen=oracle.f1)
    elif policy == "dev":
        choice = best_on("dev")
        section.update(value=choice.value, chosen_on="dev", f1_where_chosen=choice.f1)
    elif policy == "fixed":
        if fixed is None:
            raise ValueError("threshold policy 'fixed' needs a threshold")
        value = given_thresholds(fixed, labels)
        section.update(value=value, chosen_on=given_as, per_label=isinstance(value, dict), f1_where_chosen=None)
    else:
        raise ValueError(f"unknown threshold policy {policy!r}: use dev, oracle or fixed")
    return section


def given_thresholds(value: float | Mapping[str, float], labels: Sequence[str]) -> float | dict[str, float]:
    """A fixed threshold as given: a float, or a mapping completed for every label (labels left out use the
    default, as `schemes.decode` does). Raises ValueError for a label the pipeline does not have."""
    if not isinstance(value, Mapping):
        return float(value)
    unknown = sorted(set(map(str, value)) - set(labels))
    if unknown:
        raise ValueError(f"threshold given for unknown label(s) {', '.join(unknown)}; labels: {', '.join(labels)}")
    return {label: float(value.get(label, DEFAULT_THRESHOLD)) for label in labels}


def decoded_spans(
    docs: Sequence[DocResult],
    labels: Sequence[str],
    scheme: str,
    threshold: float | Mapping[str, float],
    orphan: bool = False,
    continue_threshold: Optional[float | Mapping[str, float]] = None,
) -> list[list[tuple[int, int, str]]]:
    """The `(start, end, label)` spans `schemes.decode` gives for each doc's probabilities at these thresholds."""
    return [
        [
            (s.start, s.end, s.label)
            for s in decode(doc.probs, labels, scheme, threshold, orphan, doc.space, continue_threshold)
        ]
        for doc in docs
    ]


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


def _pred_label_matrix(
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


def evaluate_pipeline(
    nlp: Language,
    test_docs: Sequence[Doc],
    dev_docs: Optional[Sequence[Doc]] = None,
    *,
    policy: str = "dev",
    per_label: bool = False,
    threshold: Optional[float | Mapping[str, float]] = None,
    gold_key: str = "sc",
    spans_key: Optional[str] = None,
    component: Optional[str] = None,
    batch_size: int = 32,
    objective: str = "token",
    tune_continue: bool = False,
) -> Evaluation:
    """Evaluate `nlp` on gold docs: token- and entity-level metrics at the threshold the policy gives.

    test_docs, dev_docs: gold docs with entities in `doc.spans[gold_key]` (dev only for the dev policy).
    policy: "dev", "oracle" or "fixed" (ignored for span-only pipelines, scored at their output).
    per_label: one threshold per label instead of one shared.
    threshold: the fixed policy's value (default: the tagger's configured threshold).
    spans_key: the key the pipeline writes (default: the tagger's, else "sc"). component: the tagger's name.
    objective: what the dev/oracle threshold maximises: "token" (token micro F1, the paper) or "entity"
        (exact-span F1).
    tune_continue: BIO or BIOE, dev/oracle policy, entity objective, shared threshold: choose the start and the
        continuation threshold (`schemes.decode`) together by exact-span micro F1 where the threshold is chosen;
        otherwise the tagger's own `continue_threshold` is used.
    RETURNS: an `Evaluation` (metrics dict without provenance; `evaluate_command` adds it).
    """
    tagger = find_tagger(nlp, component)
    if policy not in {p.value for p in ThresholdPolicy}:
        raise ValueError(f"unknown threshold policy {policy!r}: use dev, oracle or fixed")
    classifier = find_span_classifier(nlp, spans_key or (tagger.key if tagger is not None else "sc"))
    if classifier is not None:
        if tune_continue:
            raise ValueError(
                f"the pipeline's output comes from the span classifier {classifier.name!r}, which has one threshold "
                "on span scores: there is no continuation threshold to tune"
            )
        return evaluate_span_classifier(
            nlp, classifier, test_docs, dev_docs, policy=policy, per_label=per_label, threshold=threshold,
            gold_key=gold_key, spans_key=classifier.key, batch_size=batch_size,
        )
    if tagger is not None and policy == "dev" and dev_docs is None:
        raise ValueError(NEEDS_DEV)
    test, lost = run_pipeline(nlp, test_docs, gold_key, spans_key, tagger, batch_size, desc="test")
    gold_labels = sorted({s[2] for doc in test for s in doc.gold})
    metrics: dict[str, Any] = {"token_unit": TOKEN_UNIT, "counts": corpus_counts(test, lost)}
    if tagger is None:
        labels = sorted(set(gold_labels) | {s[2] for doc in test for s in doc.pred})
        y_true, y_pred = _pred_label_matrix(test, labels)
        metrics.update(
            pipeline_kind="spans",
            pipeline_setup=pipeline_setup(nlp),
            scheme=None,
            labels=labels,
            threshold={"policy": "output", "description": policy_description("output"), "value": None},
            token={"IO": token_metrics(y_true, y_pred, labels)},
        )
        pred_spans = [doc.pred for doc in test]
        evaluation = Evaluation(metrics)
    else:
        labels, scheme = list(tagger.labels), tagger.scheme
        # IO columns are named by their label ("Problema", not "I-Problema"), as span-only pipelines are,
        # so that `compare` lines up per-label figures of every kind of pipeline.
        names = list(labels) if scheme == "IO" else list(tagger.columns)
        column_labels = [column_label(c) for c in tagger.columns]
        unknown = sorted(set(gold_labels) - set(labels))
        matrices = token_matrices(test, labels, scheme)
        orphan = bool(tagger.cfg.get("bio_start_on_orphan_i", False))
        dev_matrices, dev = None, None
        if policy == "dev":
            dev, _ = run_pipeline(nlp, dev_docs, gold_key, spans_key, tagger, batch_size, desc="dev")
            dev_matrices = token_matrices(dev, labels, scheme)
        fixed = tagger.threshold if threshold is None else threshold

        def entity_choice(which: str) -> ThresholdChoice:
            return select_entity_threshold(test if which == "test" else dev, labels, scheme, per_label, orphan)

        section = choose_threshold(
            policy, per_label, labels, scheme, matrices, dev_matrices, fixed, objective, entity_choice
        )
        value = section["value"]
        continue_value = tagger.continue_threshold
        if tune_continue:
            if scheme == "IO" or policy == "fixed" or per_label or objective != "entity":
                raise ValueError(
                    "tuning the continuation threshold needs a BIO or BIOE tagger, the dev or oracle policy, one "
                    "shared threshold and --threshold-objective entity"
                )
            chosen_on = test if policy == "oracle" else dev
            value, continue_value, f1 = select_bio_thresholds(chosen_on, labels, value, orphan, scheme=scheme)
            section.update(value=value, f1_where_chosen=f1)
            section["continue_threshold"] = {
                "value": continue_value,
                "chosen_on": section["chosen_on"],
                "objective": "entity strict micro F1, with the start threshold (coordinate search)",
            }
        elif continue_value is not None:
            section["continue_threshold"] = {"value": continue_value, "chosen_on": "the pipeline's own"}
        predicted = apply_thresholds(matrices.scores, threshold_array(value, column_labels))
        token = {scheme: token_metrics(matrices.gold_columns, predicted, names, matrices.scores)}
        if scheme != "IO":
            collapsed = apply_thresholds(matrices.label_scores, threshold_array(value, labels))
            token[label_matrix_name(scheme)] = token_metrics(
                matrices.gold_labels, collapsed, labels, matrices.label_scores
            )
        # The shared-threshold micro F1 across the grid on test: how much the choice of threshold matters.
        counts = grid_counts(matrices.gold_columns, matrices.scores)
        section["test_micro_f1_by_threshold"] = {
            f"{t:.2f}": round(float(f), 6) for t, f in zip(counts.grid, f1_curve(*counts.pooled()))
        }
        pred_spans = decoded_spans(test, labels, scheme, value, orphan, continue_value)
        tagger.threshold = value  # the pipeline object now decodes as evaluated
        tagger.continue_threshold = continue_value
        metrics.update(
            pipeline_kind="clinical_tagger",
            pipeline_setup=pipeline_setup(nlp, tagger),
            component=tagger.name,
            scheme=scheme,
            labels=labels,
            columns=names,
            gold_labels_unknown_to_pipeline=unknown,
            threshold=section,
            token=token,
        )
        evaluation = Evaluation(
            metrics,
            pr_rows=pr_curves(matrices.gold_columns, matrices.scores, names),
            roc_rows=roc_curves(matrices.gold_columns, matrices.scores, names),
        )
    metrics["entity"] = entity_metrics([doc.gold for doc in test], pred_spans, labels)
    return evaluation


def spans_above(
    docs: Sequence[DocResult], threshold: float | Mapping[str, float]
) -> list[list[SpanTuple]]:
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
    docs: Sequence[DocResult], labels: Sequence[str], grid: numpy.ndarray = THRESHOLD_GRID
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
    among them: the recall that no threshold of the classifier can exceed."""
    proposed = gold = found = 0
    for doc in docs:
        boundaries = {(s[0], s[1]) for s in doc.gold}
        proposed += len(doc.candidates or [])
        gold += len(boundaries)
        found += len(boundaries & set(doc.candidates or []))
    return {
        "proposed": proposed,
        "proposed_per_doc": proposed / len(docs) if docs else 0.0,
        "gold_spans": gold,
        "gold_spans_proposed": found,
        "recall": found / gold if gold else 0.0,
    }


def evaluate_span_classifier(
    nlp: Language,
    classifier: Any,
    test_docs: Sequence[Doc],
    dev_docs: Optional[Sequence[Doc]] = None,
    *,
    policy: str = "dev",
    per_label: bool = False,
    threshold: Optional[float | Mapping[str, float]] = None,
    gold_key: str = "sc",
    spans_key: str = "sc",
    batch_size: int = 32,
) -> Evaluation:
    """Evaluate a pipeline whose output comes from a span classifier (spaCy's `spancat`; see the module docstring).

    The pipeline runs once per DocBin with the classifier's threshold at the bottom of the grid, so that every
    threshold can be applied to the stored span scores afterwards. policy and per_label: as `evaluate_pipeline`,
    the objective being exact-span F1; fixed with no threshold: the classifier's own. The classifier keeps the
    chosen threshold when it is shared (spancat has no per-label threshold).
    """
    if policy == "dev" and dev_docs is None:
        raise ValueError(NEEDS_DEV)
    own = float(classifier.cfg["threshold"])
    proposals = candidates_key(classifier)
    classifier.cfg["threshold"] = float(THRESHOLD_GRID[0])
    try:
        test, lost = run_pipeline(nlp, test_docs, gold_key, spans_key, None, batch_size, "test", proposals)
        dev = None
        if policy == "dev":
            dev, _ = run_pipeline(nlp, dev_docs, gold_key, spans_key, None, batch_size, "dev", proposals)
    finally:
        classifier.cfg["threshold"] = own
    labels = sorted(classifier.labels)
    gold_labels = sorted({s[2] for doc in test for s in doc.gold})
    curves = span_threshold_curves(test, labels)

    def best_on(which: str) -> ThresholdChoice:
        rows = curves if which == "test" else span_threshold_curves(dev, labels)
        return select_span_threshold(rows, labels, per_label)

    section = threshold_section(
        policy, per_label, OBJECTIVES[("entity", per_label)].replace("decoded", "scored by the span classifier"),
        best_on, own if threshold is None else threshold, labels,
        given_as="given" if threshold is not None else "the pipeline's own",
    )
    value = section["value"]
    pred_spans = spans_above(test, value)
    if not isinstance(value, Mapping):
        classifier.cfg["threshold"] = float(value)  # the pipeline object now predicts as evaluated
    y_true, y_pred = _pred_label_matrix(test, labels, pred_spans)
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
    }
    if proposals is not None:
        metrics["candidates"] = {"key": proposals, **candidate_recall(test)}
    metrics["entity"] = entity_metrics([doc.gold for doc in test], pred_spans, labels)
    return Evaluation(metrics, pr_rows=curves)


def provenance(
    nlp: Language,
    model: str,
    data: Mapping[str, Optional[Path]],
    *,
    seed: Optional[int] = None,
    label: Optional[str] = None,
    corpus: Optional[str] = None,
) -> dict[str, Any]:
    """Where the figures come from: pipeline, data hashes, seed, policy-independent environment.

    data: role ("test", "dev") -> DocBin path (None entries are skipped).
    label: the run's model name for `aggregate`/`compare` (default: the pipeline's name).
    corpus: the corpus name for the tables (default: the test file's folder name).
    """
    meta = nlp.meta
    files = {
        role: {"path": str(path), "sha256": sha256_of(path), "bytes": Path(path).stat().st_size}
        for role, path in data.items()
        if path is not None
    }
    test_path = data.get("test")
    return {
        "label": label or f"{meta.get('lang', '')}_{meta.get('name', 'pipeline')}",
        "corpus": corpus or (Path(test_path).resolve().parent.name if test_path else None),
        "model": str(model),
        "pipeline": {
            "name": meta.get("name"),
            "version": meta.get("version"),
            "lang": meta.get("lang"),
            "components": list(nlp.pipe_names),
            "spacy_version": meta.get("spacy_version"),
        },
        "data": files,
        "seed": seed,
        "package_version": __version__,
        "spacy_runtime": spacy.__version__,
        "git_commit": git_commit(),
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines + [""]


def _threshold_text(section: Mapping[str, Any]) -> str:
    value = section.get("value")
    if value is None:
        return "none"
    text = _values_text(value) + ("" if isinstance(value, Mapping) else " (shared)")
    carry = section.get("continue_threshold")
    if carry:
        text += f"; continuation (I) threshold {_values_text(carry['value'])} ({carry['chosen_on']})"
    return text


def _values_text(value: float | Mapping[str, float]) -> str:
    """A threshold as text: `0.50`, or `Anatomia 0.35, Problema 0.50` per label."""
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {v:.2f}" for k, v in value.items())
    return f"{value:.2f}"


def render_report(metrics: Mapping[str, Any]) -> str:
    """report.md: the paper's tables (token-level micro/macro per scheme), then entity level and per label."""
    prov = metrics.get("provenance", {})
    section = metrics["threshold"]
    policy = section["policy"]
    lines = [f"# Evaluation: {prov.get('label', 'pipeline')} on {prov.get('corpus', 'test set')}", ""]
    if policy == "oracle":
        lines += [f"**Threshold policy: {ORACLE_NOTE}.** Figures below overstate what a user would get.", ""]
    else:
        lines += [f"Threshold policy: {section['description']}.", ""]
    counts = metrics["counts"]
    setup = metrics.get("pipeline_setup")
    lines += [f"- pipeline: {setup['name']}"] if setup else []
    lines += [
        f"- threshold: {_threshold_text(section)}"
        + (f", chosen on {section['chosen_on']}" if section.get("chosen_on") else ""),
        f"- token unit: {metrics['token_unit']} ({counts['tokens'] - counts['whitespace_tokens_excluded']} tokens "
        f"scored, {counts['whitespace_tokens_excluded']} whitespace tokens excluded, {counts['docs']} documents)",
        f"- gold spans: {counts['gold_spans']} (lost aligning to the pipeline's tokens: "
        f"{counts['gold_spans_lost_in_alignment']})",
    ]
    if section.get("test_optimum") and policy != "oracle":
        optimum = section["test_optimum"]
        f1 = optimum["f1"] if not isinstance(optimum["f1"], Mapping) else None
        where = "exact-span micro F1" if "entity" in section.get("objective", "") else "micro F1 on the model's columns"
        lines.append(
            f"- for comparison only, the {ORACLE_NOTE} threshold would be {_threshold_text(optimum)}"
            + (f" ({where} {f1:.4f})" if f1 is not None else "")
        )
    if metrics.get("candidates"):
        c = metrics["candidates"]
        lines.append(
            f"- span classifier `{metrics.get('component')}` on the proposals in doc.spans[{c['key']!r}]: "
            f"{c['proposed']} proposed ({c['proposed_per_doc']:.1f} per document); {c['gold_spans_proposed']} of "
            f"{c['gold_spans']} gold spans among them (recall ceiling {c['recall']:.4f}, boundaries only)"
        )
    if metrics.get("gold_labels_unknown_to_pipeline"):
        lines.append(
            f"- gold labels the pipeline does not predict (errors at entity level, outside the token matrix): "
            f"{', '.join(metrics['gold_labels_unknown_to_pipeline'])}"
        )
    lines += [
        "",
        "## Token level (as the paper: token x label matrix)",
        "",
        f"Micro: the cells pooled. {TOKEN_MACRO}",
        "",
    ]
    rows = []
    for name, scores in metrics["token"].items():
        rows.append(
            [
                name,
                scores["macro"]["precision"],
                scores["macro"]["recall"],
                scores["macro"]["f1"],
                scores["micro"]["precision"],
                scores["micro"]["recall"],
                scores["micro"]["f1"],
                scores.get("auc_macro"),
                scores.get("auc_micro"),
            ]
        )
    lines += _table(
        ["matrix", "macro P", "macro R", "macro F1", "micro P", "micro R", "micro F1", "macro AUC", "micro AUC"], rows
    )
    scheme, collapsed = metrics.get("scheme"), label_matrix_name(metrics.get("scheme"))
    if collapsed != "IO" and collapsed in metrics["token"]:
        lines += [
            f"{scheme}: the paper's figures use the model's own columns; `{collapsed}` scores each entity type (the "
            "max of its columns' probabilities against gold inside the type's spans).",
            "",
        ]
    for name, scores in metrics["token"].items():
        lines += [f"### Per label ({name})", ""]
        lines += _table(
            ["label", "P", "R", "F1", "support", "TP", "FP", "FN", "AUC"],
            [
                [label, s["precision"], s["recall"], s["f1"], s["support"], s["tp"], s["fp"], s["fn"], s.get("auc")]
                for label, s in scores["per_label"].items()
            ],
        )
    lines += ["## Entity level (one-to-one matching; partial: same label and IoU >= 0.5)", ""]
    rows = []
    for mode, scores in metrics["entity"].items():
        micro, macro = scores["micro"], scores["macro"]
        rows.append(
            [
                mode,
                micro["precision"],
                micro["recall"],
                micro["f1"],
                macro["f1"] if macro else None,
                scores["tp"],
                scores["fp"],
                scores["fn"],
            ]
        )
    lines += _table(["match", "micro P", "micro R", "micro F1", "macro F1", "TP", "FP", "FN"], rows)
    lines += ["Boundary ignores labels, so it has no per-label or macro figures.", ""]
    lines += ["### Per label (entity level)", ""]
    rows = []
    for label in metrics["labels"]:
        strict = metrics["entity"]["strict"]["per_label"][label]
        partial = metrics["entity"]["partial"]["per_label"][label]
        rows.append(
            [label, strict["support"], strict["precision"], strict["recall"], strict["f1"], strict["tp"], strict["fp"],
             strict["fn"], partial["f1"]]
        )
    lines += _table(["label", "gold", "strict P", "strict R", "strict F1", "TP", "FP", "FN", "partial F1"], rows)
    if metrics.get("pipeline_kind") == "span_classifier":
        lines += [
            "## Figures",
            "",
            "- `pr_curves.png` (data: `pr_curves.csv`): exact-span precision-recall per label and micro-averaged, "
            "thresholds on the span classifier's scores 0.01 to 0.99; the red point is the chosen threshold.",
            "",
        ]
    if metrics.get("pipeline_kind") == "clinical_tagger":
        lines += [
            "## Figures",
            "",
            "- `pr_curves.png` (data: `pr_curves.csv`): precision-recall per column and micro-averaged, thresholds "
            "0.01 to 0.99; the red point is the chosen threshold.",
            "- `roc_curves.png` (data: `roc_curves.csv`): ROC curves per column and micro-averaged.",
            "",
        ]
    lines += ["## Provenance", ""]
    pipeline = prov.get("pipeline", {})
    data = prov.get("data", {})
    lines += _table(
        ["item", "value"],
        [
            ["model", prov.get("model")],
            ["pipeline", f"{pipeline.get('lang')}_{pipeline.get('name')} {pipeline.get('version')}"],
            ["components", ", ".join(pipeline.get("components", []))],
            *[[f"{role} data", f"{d['path']} (sha256 {d['sha256'][:16]}...)"] for role, d in data.items()],
            ["seed", prov.get("seed")],
            ["threshold policy", section["description"]],
            ["spacy-clinical-pt", prov.get("package_version")],
            ["git commit", prov.get("git_commit")],
            ["host", f"{prov.get('hostname')} ({prov.get('platform')})"],
            ["date", prov.get("date")],
        ],
    )
    return "\n".join(lines)


def write_outputs(evaluation: Evaluation, output: str | Path) -> list[Path]:
    """Write metrics.json, report.md and the curves there are data for: precision-recall (CSV + PNG; token level
    for a tagger, exact spans for a span classifier) and ROC (token level, CSV + PNG).

    RETURNS: the paths written.
    """
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    metrics = evaluation.metrics
    written = [output / "metrics.json", output / "report.md"]
    written[0].write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf8")
    written[1].write_text(render_report(metrics), encoding="utf8")
    prov = metrics.get("provenance", {})
    section = metrics["threshold"]
    name = f"{prov.get('label', 'pipeline')} on {prov.get('corpus', 'test')}"
    if metrics.get("pipeline_kind") == "span_classifier":
        title, unit = f"{name} (span classifier)", "entities"
        subtitle = f"threshold on span scores: {section['description']}; exact span and label"
    else:
        title, unit = f"{name} ({metrics.get('scheme')})", "token-label cells"
        subtitle = f"threshold: {section['description']}; unit: spaCy tokens, whitespace excluded"
    if evaluation.pr_rows:
        value = section.get("value")
        chosen = {"micro": value} if isinstance(value, float) else dict(value or {})
        if label_matrix_name(metrics.get("scheme")) != "IO" and isinstance(value, Mapping):
            chosen = {c: value[column_label(c)] for c in metrics["columns"]}
        written.append(write_csv(evaluation.pr_rows, output / "pr_curves.csv"))
        written.append(
            plot_pr_curves(
                evaluation.pr_rows, output / "pr_curves.png", f"Precision-recall: {title}", chosen, subtitle, unit
            )
        )
    if evaluation.roc_rows:
        token = metrics["token"][metrics["scheme"]]
        auc = {name: s["auc"] for name, s in token["per_label"].items()} | {"micro": token["auc_micro"]}
        written.append(write_csv(evaluation.roc_rows, output / "roc_curves.csv"))
        written.append(plot_roc_curves(evaluation.roc_rows, output / "roc_curves.png", f"ROC: {title}", auc, subtitle))
    return written


def _parse_threshold(value: Optional[str]) -> Optional[float | dict[str, float]]:
    """`0.4` or `Problema=0.4,Anatomia=0.3`."""
    if value is None:
        return None
    if "=" not in value:
        return float(value)
    pairs = [item.split("=", 1) for item in value.split(",") if item.strip()]
    return {k.strip(): float(v) for k, v in pairs}


def evaluate_command(
    model: Annotated[
        str, typer.Argument(help="The pipeline: a directory (e.g. training/model-best) or a package name.")
    ],
    test: Annotated[Path, typer.Argument(help="Gold test set, a .spacy DocBin written by `convert`/`split`.")],
    dev: Annotated[
        Optional[Path], typer.Option("--dev", help="Gold dev set (.spacy) to choose the threshold on (policy dev).")
    ] = None,
    threshold_policy: Annotated[
        ThresholdPolicy,
        typer.Option(
            "--threshold-policy",
            help="dev: choose on --dev, apply to test; oracle: choose on test (the paper's way, optimistic); "
            "fixed: use --threshold or the pipeline's own.",
        ),
    ] = ThresholdPolicy.dev,
    per_label_thresholds: Annotated[
        bool, typer.Option("--per-label-thresholds", help="One threshold per label instead of one shared.")
    ] = False,
    threshold_objective: Annotated[
        ThresholdObjective,
        typer.Option(
            "--threshold-objective",
            help="What the dev/oracle threshold maximises: token (token micro F1, the paper) or entity "
            "(exact-span F1, for span output).",
        ),
    ] = ThresholdObjective.token,
    tune_continue_threshold: Annotated[
        bool,
        typer.Option(
            "--tune-continue-threshold",
            help="BIO/BIOE, with --threshold-objective entity: choose the start threshold and the (lower) threshold "
            "an I needs to continue a span together, by exact-span F1.",
        ),
    ] = False,
    threshold: Annotated[
        Optional[str],
        typer.Option("--threshold", help="Policy fixed: a value (0.4) or per label (Problema=0.4,Anatomia=0.3)."),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for metrics.json, report.md, curves.")] = Path(
        "evaluation"
    ),
    seed: Annotated[
        Optional[int], typer.Option("--seed", help="The run's seed, recorded (and fixed) for provenance.")
    ] = None,
    label: Annotated[
        Optional[str], typer.Option("--label", help="Model name in aggregate/compare tables (default: pipeline name).")
    ] = None,
    corpus: Annotated[
        Optional[str], typer.Option("--corpus", help="Corpus name in tables (default: the test file's folder name).")
    ] = None,
    gold_key: Annotated[str, typer.Option("--gold-key", help="doc.spans key of the gold entities.")] = "sc",
    spans_key: Annotated[
        Optional[str], typer.Option("--spans-key", help="doc.spans key the pipeline writes (default: its own, or sc).")
    ] = None,
    component: Annotated[
        Optional[str], typer.Option("--component", help="Name of the clinical_tagger to tune (default: the last one).")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Documents per nlp.pipe batch.")] = 32,
) -> None:
    """Evaluate a pipeline on a test set: token and entity level, threshold policy, PR/ROC curves, provenance."""
    if seed is not None:
        spacy.util.fix_random_seed(seed)
    if dev is not None and threshold_policy != ThresholdPolicy.dev:
        typer.echo(f"note: --dev is only read by the dev policy; ignored with {threshold_policy.value}", err=True)
    if threshold is not None and threshold_policy != ThresholdPolicy.fixed:
        typer.echo(f"note: --threshold is only read by the fixed policy; ignored with {threshold_policy.value}", err=True)
    try:
        nlp = load_pipeline(model)
        test_docs = load_gold(test, nlp, gold_key)
        dev_docs = load_gold(dev, nlp, gold_key) if dev is not None and threshold_policy == ThresholdPolicy.dev else None
        writable_folder(output)
        evaluation = evaluate_pipeline(
            nlp,
            test_docs,
            dev_docs,
            policy=threshold_policy.value,
            per_label=per_label_thresholds,
            threshold=_parse_threshold(threshold),
            gold_key=gold_key,
            spans_key=spans_key,
            component=component,
            batch_size=batch_size,
            objective=threshold_objective.value,
            tune_continue=tune_continue_threshold,
        )
        evaluation.metrics["provenance"] = provenance(
            nlp, model, {"test": test, "dev": dev if dev_docs is not None else None}, seed=seed, label=label,
            corpus=corpus,
        )
        evaluation.metrics["provenance"]["threshold_policy"] = evaluation.metrics["threshold"]["description"]
        try:
            written = write_outputs(evaluation, output)
        except OSError as err:
            raise ValueError(f"{output}: cannot write the results there ({err.strerror or err})") from None
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=1) from None
    section = evaluation.metrics["threshold"]
    scheme = evaluation.metrics.get("scheme") or "IO"
    token = evaluation.metrics["token"][scheme]
    strict = evaluation.metrics["entity"]["strict"]["micro"]
    typer.echo(f"pipeline: {evaluation.metrics['pipeline_setup']['name']}")
    typer.echo(f"threshold: {_threshold_text(section)} — {section['description']}")
    typer.echo(
        f"token {scheme}: micro F1 {token['micro']['f1']:.4f}, macro F1 {token['macro']['f1']:.4f}; "
        f"entity strict micro F1 {strict['f1']:.4f}"
    )
    typer.echo("wrote " + ", ".join(str(p) for p in written))


def load_gold(path: Path, nlp: Language, gold_key: str) -> list[Doc]:
    """The gold docs of a `.spacy` file; a ValueError naming the file when it has no documents or no gold spans.

    path: the DocBin. nlp: whose vocab the docs use. gold_key: the `doc.spans` key of the gold entities.
    """
    from .convert import load_docs

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


def writable_folder(path: Path) -> None:
    """Create the output folder `path` now, so that a path that cannot be written fails before the pipeline runs
    (a ValueError naming it)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{path}: cannot create the output folder ({err.strerror or err})") from None
