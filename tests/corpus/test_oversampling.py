"""Oversampling: replication counts on a hand-made label distribution, and the registered corpus reader."""

import json
from collections import Counter

import pytest
import spacy
from spacy.tokens import DocBin, Span

from spacy_clinical_pt.oversampling import OversampledCorpus, label_counts, oversampling_plan

# 6 docs: Problema everywhere (12 entities), Anatomia only in doc 4 (1), Teste in docs 4 and 5 (1 each).
COUNTS = [
    Counter({"Problema": 2}),
    Counter({"Problema": 2}),
    Counter({"Problema": 2}),
    Counter({"Problema": 2}),
    Counter({"Problema": 2, "Anatomia": 1, "Teste": 1}),
    Counter({"Problema": 2, "Teste": 1}),
]


def test_rare_labels_are_raised_towards_the_mean():
    # mean per label = (12 + 1 + 2) / 3 = 5: Anatomia (1) and Teste (2) are rare.
    copies = oversampling_plan(COUNTS, target_ratio=1.0, max_replication=10, seed=0)
    after = label_counts(COUNTS, copies)
    assert copies[:4] == [1, 1, 1, 1]  # documents holding no rare label are never replicated
    assert after["Anatomia"] == 5  # only doc 4 holds it: 5 copies reach the target exactly
    assert after["Teste"] >= 5
    assert copies[4] == 5


def test_max_replication_caps_every_document():
    copies = oversampling_plan(COUNTS, target_ratio=1.0, max_replication=3, seed=0)
    assert max(copies) == 3 and copies[4] == 3
    assert label_counts(COUNTS, copies)["Anatomia"] == 3


def test_no_oversampling_when_balanced_or_disabled():
    assert oversampling_plan([Counter({"A": 1}), Counter({"B": 1})]) == [1, 1]
    assert oversampling_plan(COUNTS, max_replication=1) == [1] * 6
    assert oversampling_plan([Counter(), Counter()]) == [1, 1]


def test_same_seed_same_plan():
    counts = [Counter({"A": 3}), Counter({"B": 1}), Counter({"B": 1, "A": 1}), Counter({"B": 2})]
    assert oversampling_plan(counts, seed=3, max_replication=6) == oversampling_plan(counts, seed=3, max_replication=6)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="target_ratio must be positive"):
        oversampling_plan(COUNTS, target_ratio=0)
    with pytest.raises(ValueError, match="max_replication must be at least 1"):
        oversampling_plan(COUNTS, max_replication=0)


def test_registered_reader_replicates_examples(tmp_path, capsys):
    nlp = spacy.blank("pt")
    docs = []
    for counts in COUNTS:
        doc = nlp.make_doc("a b c d e f")
        spans, i = [], 0
        for label, n in sorted(counts.items()):
            for _ in range(n):
                spans.append(Span(doc, i, i + 1, label=label))
                i += 1
        doc.spans["sc"] = spans
        docs.append(doc)
    DocBin(docs=docs).to_disk(tmp_path / "train.spacy")
    reader = spacy.registry.readers.get("spacy_clinical_pt.OversampledCorpus.v1")(
        tmp_path / "train.spacy", max_replication=10, seed=0
    )
    assert isinstance(reader, OversampledCorpus)
    examples = list(reader(nlp))
    assert len(examples) == sum(oversampling_plan(COUNTS, max_replication=10, seed=0))
    yielded = Counter(span.label_ for eg in examples for span in eg.reference.spans["sc"])
    assert yielded == reader.after and reader.before == Counter({"Problema": 12, "Anatomia": 1, "Teste": 2})
    assert "Anatomia 1 -> 5" in capsys.readouterr().out
    # replicas carry their own predicted doc, so annotating one does not touch another
    assert len({id(eg.predicted) for eg in examples}) == len(examples)


# Anatomia in two docs: which of them an epoch replicates depends on the epoch's seed.
SHARED = [Counter({"Problema": 2})] * 4 + [Counter({"Problema": 2, "Anatomia": 1})] * 2


def test_each_epoch_draws_its_own_replicas_and_reports_its_distribution(tmp_path, capsys):
    nlp = spacy.blank("pt")
    docs = []
    for counts in SHARED:
        doc = nlp.make_doc("a b c d e f")
        labels = [label for label, n in sorted(counts.items()) for _ in range(n)]
        doc.spans["sc"] = [Span(doc, i, i + 1, label=label) for i, label in enumerate(labels)]
        docs.append(doc)
    DocBin(docs=docs).to_disk(tmp_path / "train.spacy")
    report = tmp_path / "logs" / "oversampling.jsonl"
    reader = spacy.registry.readers.get("spacy_clinical_pt.OversampledCorpus.v1")(
        tmp_path / "train.spacy", max_replication=10, seed=3, report_path=report
    )
    epochs = [Counter(span.label_ for eg in reader(nlp) for span in eg.reference.spans["sc"]) for _ in range(3)]
    plans = [oversampling_plan(SHARED, max_replication=10, seed=3 + n) for n in range(3)]
    assert len(set(map(tuple, plans))) > 1  # the seeds give different plans: the check below can tell them apart
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [0, 1, 2]
    for line, plan, seen in zip(lines, plans, epochs):
        assert line["documents"] == sum(plan)
        assert line["entities"] == dict(sorted(seen.items())) == dict(sorted(label_counts(SHARED, plan).items()))
    assert capsys.readouterr().out.count("oversampling") == 1  # printed on the first epoch only
