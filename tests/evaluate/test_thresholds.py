"""The one threshold type: parsed from the command line and metrics.json, validated, and applied to a pipeline."""

import pytest

from spacy_clinical_pt.thresholds import Thresholds


def test_parse_shared_and_per_label_values():
    assert Thresholds.parse("0.4") == Thresholds(0.4)
    assert Thresholds.parse("Problema=0.3, Teste=0.5") == Thresholds({"Problema": 0.3, "Teste": 0.5})
    with pytest.raises(ValueError, match="'abc' is not a number"):
        Thresholds.parse("abc")
    with pytest.raises(ValueError, match="strictly between 0 and 1, got 1.5"):
        Thresholds.parse("Problema=1.5")


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, "0.5", True])
def test_values_outside_zero_one_are_refused(bad):
    with pytest.raises(ValueError, match="threshold for"):
        Thresholds(bad)
    with pytest.raises(ValueError, match="threshold for Problema"):
        Thresholds(0.5, {"Problema": bad})


def test_metrics_section_and_cfg_round_trip():
    section = {"policy": "dev", "value": 0.6, "continue_threshold": {"value": 0.3, "chosen_on": "dev"}}
    thresholds = Thresholds.from_dict(section)
    assert thresholds == Thresholds(0.6, 0.3)
    assert thresholds.to_dict() == {"value": 0.6, "continue_threshold": {"value": 0.3}}
    assert Thresholds.from_cfg(thresholds.to_cfg()) == thresholds
    assert Thresholds({"A": 0.2}).to_dict() == {"value": {"A": 0.2}}
    with pytest.raises(ValueError, match="no value"):
        Thresholds.from_dict({"policy": "output", "value": None})


def test_labels_are_checked_and_completed():
    assert Thresholds({"A": 0.2}).completed(["A", "B"]) == Thresholds({"A": 0.2, "B": 0.5})
    with pytest.raises(ValueError, match="unknown label.*'C'.*labels: A, B"):
        Thresholds(0.5, {"C": 0.2}).checked(["A", "B"])
    assert Thresholds({"C": 0.2}).checked(None) == Thresholds({"C": 0.2})  # labels not known yet
