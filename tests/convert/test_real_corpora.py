"""The real corpora beside the checkout (../shared/corpora): exact counts and round trips.

Skipped, with the reason, where the corpora are absent (a user's fresh clone).
"""

import json
import re
from collections import Counter

import pytest

from spacy_clinical_pt.convert import convert_path, load_docs
from spacy_clinical_pt.corpus import ConversionError
from spacy_clinical_pt.export import export_brat, export_jsonspans


def ann_lines(folder):
    """Every `.ann` line of a BRAT folder, by file name."""
    return {p.stem: p.read_text(encoding="utf8").splitlines() for p in sorted(folder.glob("*.ann"))}


@pytest.mark.parametrize("split, expected", [("train", 3194), ("test", 982)])
def test_nestedclinbr_counts(nlp, nestedclinbr_dir, tmp_path, split, expected):
    source = nestedclinbr_dir / split
    report = convert_path(source, tmp_path / f"{split}.spacy", format="brat", nlp=nlp)
    lines = [line for file in ann_lines(source).values() for line in file if line.strip()]
    assert report.entities == expected == sum(line.startswith("T") for line in lines)
    assert report.docs == len(list(source.glob("*.txt")))
    assert report.dropped == [] and report.errors == []
    # Relations, events, attributes, notes: every non-T line is counted in the report.
    assert sum(report.ignored_lines.values()) == sum(not line.startswith("T") for line in lines)
    labels = Counter(re.split(r"[\t ]", line)[1] for line in lines if line.startswith("T"))
    assert report.entities_per_label == labels


@pytest.mark.parametrize("mode", ["covering", "fragments"])
def test_nestedclinbr_round_trip(nlp, nestedclinbr_dir, tmp_path, mode):
    source = nestedclinbr_dir / "test"
    convert_path(source, tmp_path / "test.spacy", format="brat", nlp=nlp, discontinuous=mode)
    docs = load_docs(tmp_path / "test.spacy")
    if mode == "fragments":
        assert sum(len(doc.spans["sc"]) for doc in docs) > 982  # discontinuous entities give several spans
    export_brat(docs, tmp_path / "back")
    original, back = ann_lines(source), ann_lines(tmp_path / "back")
    assert back.keys() == original.keys()
    for name, lines in original.items():
        assert back[name] == [line for line in lines if line.startswith("T")], name
        assert (tmp_path / "back" / f"{name}.txt").read_bytes() == (source / f"{name}.txt").read_bytes()


def null_label_record(path):
    """(record number, annotation number) of the annotations with a null or empty label, 1-based."""
    records = json.loads(path.read_text(encoding="utf8"))
    return [
        (r, a)
        for r, record in enumerate(records, start=1)
        for a, annotation in enumerate(record["annotations"], start=1)
        if not annotation["label"]
    ]


def test_er_ner_train_strict_names_the_null_label_record(nlp, er_ner_dir, tmp_path):
    (record, annotation), = null_label_record(er_ner_dir / "train.json")
    with pytest.raises(ConversionError) as error:
        convert_path(er_ner_dir / "train.json", tmp_path / "train.spacy", format="jsonspans", nlp=nlp)
    assert f"train.json record {record} annotation {annotation}: empty or null label" in str(error.value)
    assert not (tmp_path / "train.spacy").exists()


def test_er_ner_train_lenient_reports_the_null_label(nlp, er_ner_dir, tmp_path):
    (record, annotation), = null_label_record(er_ner_dir / "train.json")
    report = convert_path(
        er_ner_dir / "train.json", tmp_path / "train.spacy", format="jsonspans", nlp=nlp, lenient=True,
        report_path=tmp_path / "report.json",
    )
    assert (report.docs, report.entities) == (257, 1492)
    assert len(report.dropped) == 1
    assert report.dropped[0]["where"].endswith(f"train.json record {record} annotation {annotation}")
    assert json.loads((tmp_path / "report.json").read_text(encoding="utf8"))["entities"] == 1492


def test_er_ner_val_counts_and_round_trip(nlp, er_ner_dir, tmp_path):
    report = convert_path(er_ner_dir / "val.json", tmp_path / "val.spacy", format="jsonspans", nlp=nlp)
    assert (report.docs, report.entities, report.misaligned) == (28, 166, 0)
    export_jsonspans(load_docs(tmp_path / "val.spacy"), tmp_path / "val.json")
    original = json.loads((er_ner_dir / "val.json").read_text(encoding="utf8"))
    assert json.loads((tmp_path / "val.json").read_text(encoding="utf8")) == original
