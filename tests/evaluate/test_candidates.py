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

