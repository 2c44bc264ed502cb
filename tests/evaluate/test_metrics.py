"""Metrics: hand-computed small cases, scikit-learn on random matrices, nervaluate and seqeval on entities."""

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from nervaluate import Evaluator
from seqeval.metrics import classification_report as seqeval_report
from seqeval.scheme import IOB2
from sklearn.metrics import (
    f1_score,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from spacy_clinical_pt.metrics import (
    THRESHOLD_GRID,
    apply_thresholds,
    entity_metrics,
    grid_counts,
    pr_curves,
    prf,
    roc_curves,
    select_threshold,
    span_iou,
    token_label_matrix,
    token_metrics,
)
from spacy_clinical_pt.thresholds import Thresholds


def test_grid_is_0_01_to_0_99():
    assert len(THRESHOLD_GRID) == 99
    assert THRESHOLD_GRID[0] == 0.01 and THRESHOLD_GRID[-1] == 0.99 and THRESHOLD_GRID[49] == 0.5


def test_prf_by_hand():
    assert prf(3, 1, 2) == pytest.approx((0.75, 0.6, 2 * 0.75 * 0.6 / 1.35))
    assert prf(0, 0, 0) == (0.0, 0.0, 0.0)
    assert prf(0, 2, 0) == (0.0, 0.0, 0.0)


def test_token_metrics_by_hand():
    # 5 tokens x 2 labels. A: tp 2, fp 1, fn 1. B: tp 1, fp 0, fn 1.
    gold = numpy.array([[1, 0], [1, 1], [1, 0], [0, 1], [0, 0]])
    pred = numpy.array([[1, 0], [1, 1], [0, 0], [0, 0], [1, 0]])
    m = token_metrics(gold, pred, ["A", "B"])
    expected = {"precision": 3 / 4, "recall": 3 / 5, "f1": 2 * 3 / (2 * 3 + 1 + 2), "tp": 3, "fp": 1, "fn": 2}
    assert m["micro"] == pytest.approx(expected)
    f_a, f_b = 2 * 2 / (4 + 1 + 1), 2 * 1 / (2 + 0 + 1)
    assert m["macro"]["f1"] == pytest.approx((f_a + f_b) / 2)
    assert m["macro"]["precision"] == pytest.approx((2 / 3 + 1.0) / 2)
    assert m["per_label"]["A"]["support"] == 3 and m["per_label"]["B"]["support"] == 2
    assert (m["per_label"]["B"]["tp"], m["per_label"]["B"]["fp"], m["per_label"]["B"]["fn"]) == (1, 0, 1)
    assert m["auc_micro"] is None and m["n_tokens"] == 5


def test_token_metrics_auc_by_hand():
    # Column A: positives score 0.9 and 0.4, negatives 0.5 and 0.1: 3 of 4 pairs ordered, AUC 0.75.
    gold = numpy.array([[1, 0], [1, 1], [0, 0], [0, 1]])
    score = numpy.array([[0.9, 0.1], [0.4, 0.8], [0.5, 0.2], [0.1, 0.7]])
    m = token_metrics(gold, score >= 0.5, ["A", "B"], score)
    assert m["per_label"]["A"]["auc"] == pytest.approx(0.75)
    assert m["per_label"]["B"]["auc"] == pytest.approx(1.0)
    assert m["auc_macro"] == pytest.approx(0.875)


def test_token_metrics_auc_undefined_for_a_constant_column():
    gold = numpy.array([[1, 0], [0, 0], [1, 0]])
    score = numpy.array([[0.9, 0.3], [0.2, 0.1], [0.6, 0.2]])
    m = token_metrics(gold, score >= 0.5, ["A", "B"], score)
    assert m["per_label"]["B"]["auc"] is None
    assert m["auc_macro"] == pytest.approx(m["per_label"]["A"]["auc"]) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_token_metrics_match_sklearn_on_random_matrices(seed):
    rng = numpy.random.default_rng(seed)
    gold = rng.random((400, 5)) < rng.uniform(0.02, 0.3, size=5)
    score = numpy.clip(gold * rng.uniform(0.1, 0.5) + rng.random((400, 5)) * 0.7, 0, 1)
    pred = score >= 0.5
    names = list("ABCDE")
    m = token_metrics(gold, pred, names, score)
    for average in ("micro", "macro"):
        assert m[average]["precision"] == pytest.approx(precision_score(gold, pred, average=average, zero_division=0))
        assert m[average]["recall"] == pytest.approx(recall_score(gold, pred, average=average, zero_division=0))
        assert m[average]["f1"] == pytest.approx(f1_score(gold, pred, average=average, zero_division=0))
    assert m["auc_micro"] == pytest.approx(roc_auc_score(gold, score, average="micro"))
    assert m["auc_macro"] == pytest.approx(roc_auc_score(gold, score, average="macro"))
    p, r, f, s = precision_recall_fscore_support(gold, pred, zero_division=0)
    for i, name in enumerate(names):
        assert m["per_label"][name]["f1"] == pytest.approx(f[i])
        assert m["per_label"][name]["support"] == s[i]
        # The counts agree with the figures: F1 = 2tp / (2tp + fp + fn).
        c = m["per_label"][name]
        assert prf(c["tp"], c["fp"], c["fn"])[2] == pytest.approx(f[i])


def test_one_label_is_scored_on_its_positive_class():
    # Three gold tokens, one found and nothing spurious: P 1, R 1/3 (scikit-learn's binary average on a one-column
    # matrix scored the negative class instead: P 1/3, R 1).
    m = token_metrics(numpy.array([[1], [1], [1], [0]]), numpy.array([[1], [0], [0], [0]]), ["Problema"])
    for scores in (m["micro"], m["macro"], m["per_label"]["Problema"]):
        assert (scores["precision"], scores["recall"]) == pytest.approx((1.0, 1 / 3))
        assert scores["f1"] == pytest.approx(0.5)
    assert m["per_label"]["Problema"]["support"] == 3


def test_macro_averages_every_label_one_without_gold_or_prediction_counting_0():
    # B has no gold and no predicted token: micro is perfect, macro is the mean of A's 1.0 and B's 0.
    gold = numpy.array([[1, 0], [1, 0], [0, 0]])
    m = token_metrics(gold, gold, ["A", "B"])
    assert m["micro"]["f1"] == 1.0
    assert m["macro"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert m["per_label"]["B"]["support"] == 0


def test_token_label_matrix_leaves_whitespace_tokens_out():
    # Tokens: Dor, \n, no, peito; a Problema over all four, an Anatomia on "peito", a label the pipeline lacks.
    space = numpy.array([False, True, False, False])
    spans = [(0, 4, "Problema"), (3, 4, "Anatomia"), (0, 1, "Outro")]
    io = token_label_matrix(spans, space, ["Anatomia", "Problema"])
    assert io.tolist() == [[False, True], [False, True], [True, True]]
    bio = token_label_matrix(spans, space, ["Anatomia", "Problema"], "BIO")
    assert bio.astype(int).tolist() == [[0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 1]]


def _sklearn_reference(gold, pred):
    """scikit-learn's figures: per column and micro (all cells pooled) with its binary average on the positive
    class, macro their mean; with two columns or more its multilabel micro and macro averages as well."""
    per_column = [
        precision_recall_fscore_support(gold[:, i], pred[:, i], average="binary", pos_label=1, zero_division=0)[:3]
        for i in range(gold.shape[1])
    ]
    reference = {
        "micro": precision_recall_fscore_support(
            gold.ravel(), pred.ravel(), average="binary", pos_label=1, zero_division=0
        )[:3],
        "macro": tuple(numpy.mean(per_column, axis=0)),
    }
    if gold.shape[1] > 1:
        for average in ("micro", "macro"):
            multilabel = precision_recall_fscore_support(gold, pred, average=average, zero_division=0)[:3]
            assert multilabel == pytest.approx(reference[average])
    return reference, per_column


@st.composite
def gold_and_prediction(draw):
    """Random 0/1 gold and predicted matrices of 1 to 5 columns, some columns forced to all zeros."""
    n_tokens = draw(st.integers(1, 40))
    n_columns = draw(st.integers(1, 5))
    gold = draw(arrays(bool, (n_tokens, n_columns)))
    pred = draw(arrays(bool, (n_tokens, n_columns)))
    for i in draw(st.sets(st.integers(0, n_columns - 1))):
        gold[:, i] = False
        if draw(st.booleans()):
            pred[:, i] = False  # a label with no gold and no prediction at all
    return gold, pred


@settings(max_examples=300, deadline=None)
@given(gold_and_prediction())
def test_token_metrics_match_sklearn_multilabel_on_1_to_5_columns(matrices):
    gold, pred = matrices
    names = [f"L{i}" for i in range(gold.shape[1])]
    m = token_metrics(gold, pred, names)
    reference, per_column = _sklearn_reference(gold, pred)
    for average in ("micro", "macro"):
        assert (m[average]["precision"], m[average]["recall"], m[average]["f1"]) == pytest.approx(reference[average])
    for name, expected in zip(names, per_column):
        scores = m["per_label"][name]
        assert (scores["precision"], scores["recall"], scores["f1"]) == pytest.approx(expected)
        assert scores["support"] == scores["tp"] + scores["fn"]
    assert (m["micro"]["tp"], m["micro"]["fp"], m["micro"]["fn"]) == (
        int((gold & pred).sum()), int((~gold & pred).sum()), int((gold & ~pred).sum())
    )


def test_token_metrics_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match=r"\(n_tokens, 2\)"):
        token_metrics(numpy.zeros((3, 2)), numpy.zeros((3, 3)), ["A", "B"])


@pytest.mark.parametrize("seed", [0, 1])
def test_grid_counts_match_brute_force(seed):
    rng = numpy.random.default_rng(seed)
    gold = rng.random((500, 4)) < 0.2
    # Scores on the grid values themselves test the ">=" edge in float32, as schemes.decode compares.
    score = numpy.where(rng.random((500, 4)) < 0.3, rng.choice(THRESHOLD_GRID, size=(500, 4)), rng.random((500, 4)))
    score = score.astype("float32")
    counts = grid_counts(gold, score)
    for k, t in enumerate(THRESHOLD_GRID):
        pred = score >= numpy.float32(t)
        assert (counts.tp[k] == (pred & gold).sum(axis=0)).all()
        assert (counts.fp[k] == (pred & ~gold).sum(axis=0)).all()
        assert (counts.fn[k] == (~pred & gold).sum(axis=0)).all()


def test_select_shared_threshold_on_a_constructed_case():
    # F1 by threshold: t <= 0.10: 6/9; (0.10, 0.20]: 0.75; (0.20, 0.35]: 6/7 (best); (0.35, 0.40]: 2/3;
    # (0.40, 0.80]: 0.8.
    gold = numpy.array([[1], [1], [1], [0], [0], [0]])
    score = numpy.array([[0.9], [0.8], [0.35], [0.4], [0.2], [0.1]])
    choice = select_threshold(gold, score, ["A"])
    assert choice.value == pytest.approx(0.28)  # the middle of the best plateau, 0.21 .. 0.35
    assert choice.f1 == pytest.approx(6 / 7)


def test_ties_take_the_middle_of_the_first_best_plateau():
    gold = numpy.array([[1], [0]])
    score = numpy.array([[0.95], [0.05]])  # perfect from 0.06 to 0.95
    assert select_threshold(gold, score, ["A"]).value == pytest.approx(0.5)


def test_select_per_label_thresholds_on_a_constructed_case():
    # A is best at (0.20, 0.35] as above; B: gold at 0.7, a negative at 0.65, so B is best at (0.65, 0.70].
    gold = numpy.array([[1, 0], [1, 0], [1, 0], [0, 1], [0, 0], [0, 0]])
    score = numpy.array([[0.9, 0.1], [0.8, 0.2], [0.35, 0.1], [0.4, 0.7], [0.2, 0.65], [0.1, 0.3]])
    choice = select_threshold(gold, score, ["A", "B"], per_label=True)
    assert choice.value == pytest.approx({"A": 0.28, "B": 0.68})
    assert choice.f1 == pytest.approx({"A": 6 / 7, "B": 1.0})
    # The shared threshold maximises the pooled micro F1 instead: at 0.36..0.40 A keeps 0.4 (fp) and B's 0.7 (tp).
    shared = select_threshold(gold, score, ["A", "B"])
    pred = apply_thresholds(score, Thresholds(shared.value).vectors(["A", "B"])[0])
    assert shared.f1 == pytest.approx(f1_score(gold, pred, average="micro"))
    best = max(f1_score(gold, score >= t, average="micro") for t in THRESHOLD_GRID)
    assert shared.f1 == pytest.approx(best)


def test_bio_columns_share_their_label_threshold():
    # B-A and I-A pooled: threshold chosen on both columns together.
    gold = numpy.array([[1, 0], [0, 1], [0, 0], [0, 0]])
    score = numpy.array([[0.6, 0.1], [0.1, 0.3], [0.25, 0.1], [0.1, 0.2]])
    choice = select_threshold(gold, score, ["A", "A"], per_label=True)
    assert choice.value == {"A": pytest.approx(0.28)}  # keeps 0.6 and 0.3, drops 0.25: 0.26 .. 0.30
    assert choice.f1["A"] == pytest.approx(1.0)


def test_per_column_thresholds_follow_their_label():
    start, _ = Thresholds({"A": 0.3, "B": 0.6}).vectors(["A", "A", "B"])
    assert start.tolist() == pytest.approx([0.3, 0.3, 0.6])
    with pytest.raises(ValueError, match="'C'"):
        Thresholds({"A": 0.3, "C": 0.6}).vectors(["A", "B"])


def test_entity_macro_is_the_mean_over_every_label_one_without_gold_counting_0():
    """Mutations caught: macro over the labels present in gold only (0.5 + 1.0) / 2, or micro instead of macro."""
    gold = [[(0, 2, "A"), (3, 4, "A"), (5, 6, "B")]]
    pred = [[(0, 2, "A"), (5, 6, "B"), (7, 8, "C")]]  # A: P 1, R 1/2, F1 2/3; B: exact; C: no gold, one FP
    strict = entity_metrics(gold, pred, ["A", "B", "C"])["strict"]
    assert strict["macro"]["f1"] == pytest.approx((2 / 3 + 1.0 + 0.0) / 3)
    assert strict["macro"]["precision"] == pytest.approx((1.0 + 1.0 + 0.0) / 3)
    assert strict["macro"]["recall"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert strict["micro"]["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))


def test_pr_curves_at_grid_points():
    rng = numpy.random.default_rng(3)
    gold = rng.random((300, 3)) < 0.25
    score = rng.random((300, 3))
    rows = pr_curves(gold, score, ["A", "B", "C"])
    assert len(rows) == 4 * 99 and {r["series"] for r in rows} == {"A", "B", "C", "micro"}
    for row in rows[::17]:
        cols = slice(None) if row["series"] == "micro" else ["A", "B", "C"].index(row["series"])
        pred = (score >= numpy.float32(row["threshold"]).astype("float64"))[:, cols]
        truth = gold[:, cols]
        if pred.sum():
            assert row["precision"] == pytest.approx(precision_score(truth.ravel(), pred.ravel()))
        assert row["recall"] == pytest.approx(recall_score(truth.ravel(), pred.ravel()))


def test_roc_curves_match_sklearn():
    rng = numpy.random.default_rng(4)
    gold = rng.random((200, 2)) < 0.3
    score = rng.random((200, 2)) + gold * 0.3
    rows = roc_curves(gold, score, ["A", "B"])
    fpr, tpr, _ = roc_curve(gold[:, 1], score[:, 1])
    mine = [r for r in rows if r["series"] == "B"]
    assert [r["fpr"] for r in mine] == pytest.approx(list(fpr))
    assert [r["tpr"] for r in mine] == pytest.approx(list(tpr))
    micro = [r for r in rows if r["series"] == "micro"]
    area = numpy.trapezoid([r["tpr"] for r in micro], [r["fpr"] for r in micro])
    assert area == pytest.approx(roc_auc_score(gold.ravel(), score.ravel()))


def test_span_iou():
    assert span_iou((0, 2), (1, 3)) == pytest.approx(1 / 3)
    assert span_iou((0, 4), (1, 3)) == pytest.approx(0.5)
    assert span_iou((0, 2), (2, 4)) == 0.0


def test_entity_metrics_by_hand_with_nested_and_overlapping_spans():
    gold = [[(0, 4, "Problema"), (2, 4, "Anatomia"), (6, 8, "Problema")], [(1, 2, "Anatomia")]]
    pred = [
        # the exact nested pair, a duplicate of (2, 4), and (6, 9) at IoU 2/3 with gold (6, 8)
        [(0, 4, "Problema"), (2, 4, "Anatomia"), (2, 4, "Anatomia"), (6, 9, "Problema")],
        # right boundaries, wrong label
        [(1, 2, "Problema")],
    ]
    m = entity_metrics(gold, pred, ["Anatomia", "Problema"])
    strict = m["strict"]
    assert (strict["tp"], strict["fp"], strict["fn"]) == (2, 3, 2)
    assert strict["per_label"]["Anatomia"] == pytest.approx(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5, "tp": 1, "fp": 1, "fn": 1, "support": 2}
    )
    assert strict["per_label"]["Problema"]["f1"] == pytest.approx(0.4)  # P 1/3, R 1/2
    assert strict["per_label"]["Problema"]["precision"] == pytest.approx(1 / 3)
    assert strict["macro"]["f1"] == pytest.approx((0.5 + 0.4) / 2)
    partial = m["partial"]
    # (6, 9) now matches (6, 8); the duplicate still finds no second gold (one-to-one).
    assert (partial["tp"], partial["fp"], partial["fn"]) == (3, 2, 1)
    boundary = m["boundary"]
    # Label-agnostic: (1, 2) now matches; the duplicate (2, 4) does not.
    assert (boundary["tp"], boundary["fp"], boundary["fn"]) == (3, 2, 1)
    assert boundary["per_label"] == {} and boundary["macro"] is None


def test_partial_match_needs_iou_of_one_half():
    gold = [[(0, 4, "A"), (10, 13, "A")]]
    pred = [[(1, 3, "A"), (10, 11, "A")]]  # IoU 0.5 (counts) and 1/3 (does not)
    m = entity_metrics(gold, pred, ["A"])
    assert (m["partial"]["tp"], m["partial"]["fp"], m["partial"]["fn"]) == (1, 1, 1)
    assert m["strict"]["tp"] == 0


def test_partial_matching_is_one_to_one_and_maximal():
    # A greedy match by IoU would pair (1, 5) with (0, 5) first (0.8) and leave (3, 5) alone; both can match.
    gold = [[(3, 5, "B"), (0, 5, "B")]]
    pred = [[(3, 4, "B"), (1, 5, "B")]]
    m = entity_metrics(gold, pred, ["B"])
    assert m["partial"]["tp"] == 2 and m["partial"]["fp"] == 0
    two_on_one = entity_metrics([[(0, 4, "A")]], [[(0, 4, "A"), (0, 3, "A")]], ["A"])
    assert (two_on_one["partial"]["tp"], two_on_one["partial"]["fp"]) == (1, 1)


def test_entity_metrics_document_count_mismatch():
    with pytest.raises(ValueError, match="2 gold documents but 1"):
        entity_metrics([[], []], [[]], ["A"])


def _random_non_overlapping(rng, n_tokens, labels, max_len=4):
    spans, position = [], int(rng.integers(0, 3))
    while position < n_tokens - 1:
        length = int(rng.integers(1, max_len + 1))
        if position + length > n_tokens:
            break
        if rng.random() < 0.6:
            spans.append((position, position + length, str(rng.choice(labels))))
        position += length + int(rng.integers(0, 3))
    return spans


def _perturb(rng, gold, labels, n_tokens):
    """Predictions derived from gold: kept, relabelled, shifted by one token, dropped, plus spurious ones."""
    pred = []
    for start, end, label in gold:
        roll = rng.random()
        if roll < 0.45:
            pred.append((start, end, label))
        elif roll < 0.6:
            pred.append((start, end, str(rng.choice(labels))))
        elif roll < 0.75 and end - start >= 2:
            pred.append((start + 1, end, label))  # IoU >= 0.5 for spans of two tokens or more
        elif roll < 0.9:
            continue
        else:
            pred.append((start, end, label))
    taken = numpy.zeros(n_tokens + 2, dtype=bool)
    for s, e, _ in gold:
        taken[s:e] = True
    for position in range(0, n_tokens - 1, 7):
        if not taken[position : position + 2].any() and rng.random() < 0.3:
            pred.append((position, position + 2, str(rng.choice(labels))))
    return sorted(pred)


def _nervaluate(gold, pred, labels):
    # nervaluate's offsets are inclusive at both ends.
    to_dicts = lambda docs: [[{"label": l, "start": s, "end": e - 1} for s, e, l in doc] for doc in docs]  # noqa: E731
    return Evaluator(to_dicts(gold), to_dicts(pred), tags=list(labels)).evaluate()


@pytest.mark.parametrize("seed", range(4))
def test_entity_metrics_match_nervaluate_on_non_overlapping_spans(seed):
    rng = numpy.random.default_rng(seed)
    labels = ["Anatomia", "Problema", "Teste"]
    gold, pred = [], []
    for _ in range(25):
        n = int(rng.integers(10, 40))
        g = _random_non_overlapping(rng, n, labels)
        gold.append(g)
        pred.append(_perturb(rng, g, labels, n))
    mine = entity_metrics(gold, pred, labels)
    theirs = _nervaluate(gold, pred, labels)
    overall = theirs["overall"]
    for ours, name in (("strict", "strict"), ("boundary", "exact"), ("partial", "ent_type")):
        # ent_type = same label and any overlap; every overlap built here has IoU >= 0.5, so they agree.
        assert mine[ours]["micro"]["precision"] == pytest.approx(overall[name].precision), ours
        assert mine[ours]["micro"]["recall"] == pytest.approx(overall[name].recall), ours
        assert mine[ours]["micro"]["f1"] == pytest.approx(overall[name].f1), ours
    assert mine["strict"]["tp"] == overall["strict"].correct
    for label in labels:
        per = theirs["entities"][label]["strict"]
        assert mine["strict"]["per_label"][label]["precision"] == pytest.approx(per.precision)
        assert mine["strict"]["per_label"][label]["recall"] == pytest.approx(per.recall)


def _iob2(spans, n):
    tags = ["O"] * n
    for s, e, label in spans:
        tags[s] = f"B-{label}"
        for i in range(s + 1, e):
            tags[i] = f"I-{label}"
    return tags


@pytest.mark.parametrize("seed", range(3))
def test_strict_matches_seqeval(seed):
    rng = numpy.random.default_rng(100 + seed)
    labels = ["A", "B"]
    gold, pred, gold_tags, pred_tags = [], [], [], []
    for _ in range(30):
        n = int(rng.integers(8, 30))
        g = _random_non_overlapping(rng, n, labels)
        # Predictions are an independent non-overlapping set, so seqeval can encode both in IOB2.
        p = _random_non_overlapping(rng, n, labels) if rng.random() < 0.3 else [s for s in g if rng.random() < 0.8]
        gold.append(g)
        pred.append(p)
        gold_tags.append(_iob2(g, n))
        pred_tags.append(_iob2(p, n))
    mine = entity_metrics(gold, pred, labels)["strict"]
    report = seqeval_report(gold_tags, pred_tags, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    assert mine["micro"]["f1"] == pytest.approx(report["micro avg"]["f1-score"])
    assert mine["macro"]["f1"] == pytest.approx(report["macro avg"]["f1-score"])
    for label in labels:
        assert mine["per_label"][label]["f1"] == pytest.approx(report[label]["f1-score"])
        assert mine["per_label"][label]["support"] == report[label]["support"]
