"""The proposals' recall ceiling, in all and per label (issue 16: a rare label's spans proposed or not)."""

import numpy
import pytest

from spacy_clinical_pt.evaluate.run import DocResult
from spacy_clinical_pt.evaluate.spans import candidate_recall


def doc(gold, candidates):
    return DocResult(space=numpy.zeros(20, dtype=bool), probs=None, gold=gold, pred=[], candidates=candidates)


def test_candidate_recall_per_label_counts_each_labels_gold_spans_whose_boundaries_were_proposed():
    docs = [
        doc([(0, 2, "C"), (3, 4, "C"), (5, 7, "G")], [(0, 2), (5, 6), (3, 4), (9, 12)]),
        doc([(1, 3, "G"), (1, 3, "C"), (8, 9, "RA")], [(1, 3)]),
    ]
    result = candidate_recall(docs)
    assert (result["proposed"], result["gold_spans"], result["gold_spans_proposed"]) == (5, 5, 3)
    assert result["recall"] == pytest.approx(0.6)
    assert result["per_label"] == {
        "C": {"gold_spans": 3, "gold_spans_proposed": 3, "recall": 1.0},
        "G": {"gold_spans": 2, "gold_spans_proposed": 1, "recall": 0.5},
        "RA": {"gold_spans": 1, "gold_spans_proposed": 0, "recall": 0.0},
    }



def test_a_rare_labels_threshold_can_be_chosen_below_the_token_grids_floor():
    from spacy_clinical_pt.evaluate.spans import SPAN_THRESHOLD_GRID, select_span_threshold, span_threshold_curves

    # G's spans all score under 0.01 (a classifier that learnt G weakly still ranks its gold span first); C's do not.
    scored = DocResult(
        space=numpy.zeros(20, dtype=bool), probs=None, gold=[(0, 2, "C"), (5, 7, "G")],
        pred=[(0, 2, "C"), (3, 4, "C"), (5, 7, "G"), (9, 12, "G")],
        pred_scores=numpy.asarray([0.9, 0.2, 0.006, 0.002], dtype="float32"),
    )
    rows = span_threshold_curves([scored], ["C", "G"])
    assert len(rows) == 3 * len(SPAN_THRESHOLD_GRID) and SPAN_THRESHOLD_GRID[0] == 0.001
    choice = select_span_threshold(rows, ["C", "G"], per_label=True)
    assert choice.value["G"] == pytest.approx(0.003)  # 0.003 and 0.005 keep the gold G span only: the first of the two
    assert choice.f1["G"] == pytest.approx(1.0)
    assert 0.2 < choice.value["C"] <= 0.9 and choice.f1["C"] == pytest.approx(1.0)
