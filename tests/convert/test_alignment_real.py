"""On the real corpora, at least 99.5 % of gold entities align exactly with the clinical tokenizer."""

import pytest
import spacy

from spacy_clinical_pt.convert import read_records
from spacy_clinical_pt.corpus import ConversionReport
from spacy_clinical_pt.tokenizer import alignment_rate

from helpers import corpus_path

TARGET_PERCENT = 99.5


@pytest.mark.parametrize(
    "format, inputs",
    [
        ("brat", [("nestedclinbr", "train"), ("nestedclinbr", "test")]),
        ("jsonspans", [("er_ner", "train.json"), ("er_ner", "val.json")]),
    ],
    ids=["nestedclinbr", "er_ner"],
)
def test_clinical_tokenizer_aligns_gold_entities(nlp, format, inputs):
    report = ConversionReport(lenient=True)
    records = [record for parts in inputs for record in read_records(corpus_path(*parts), format, report)]
    clinical = alignment_rate(nlp, records)
    portuguese = alignment_rate(spacy.blank("pt"), records)
    assert clinical.total > 1000  # the whole corpus was read
    assert clinical.total == portuguese.total
    shown = "\n".join(f"{m.doc_id} {m.label}: {m.shown} tokens: {m.tokens}" for m in clinical.misses[:20])
    assert clinical.percent >= TARGET_PERCENT, f"{clinical.aligned}/{clinical.total} aligned; misses:\n{shown}"
    # The clinical rules only add boundaries, so they never lose an entity the Portuguese tokenizer aligns.
    assert clinical.aligned >= portuguese.aligned
