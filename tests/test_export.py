"""Export of gold and predicted documents to BRAT standoff and JSON spans."""

import json

import pytest
from conftest import FIXTURES

from spacy_clinical_pt.convert import convert_path, load_docs
from spacy_clinical_pt.corpus import ConversionError
from spacy_clinical_pt.export import document_entities, export_brat, export_jsonspans

TEXT = "Queixa de dor no peito.\r\nNega febre. Toma AAS 100 mg."


def predicted_doc(nlp):
    """A document as a model leaves it: spans with scores, no user data."""
    doc = nlp.make_doc(TEXT)
    spans = [
        doc.char_span(10, 22, label="Problema"),
        doc.char_span(17, 22, label="Anatomia"),
        doc.char_span(42, 52, label="Medicação Habitual"),
    ]
    doc.spans["sc"] = spans
    doc.spans["sc"].attrs["scores"] = [0.9, 0.75, 0.5]
    return doc


def test_predicted_spans_to_brat_get_fresh_ids(nlp, tmp_path):
    summary = export_brat([predicted_doc(nlp)], tmp_path / "out")
    assert summary == (1, 3)
    assert (tmp_path / "out" / "doc00001.txt").read_bytes() == TEXT.encode("utf8")  # CRLF kept
    lines = (tmp_path / "out" / "doc00001.ann").read_text(encoding="utf8").splitlines()
    assert lines == [
        "T1\tProblema 10 22\tdor no peito",
        "T2\tAnatomia 17 22\tpeito",
        "T3\tMedicação_Habitual 42 52\tAAS 100 mg",
    ]


def test_predicted_spans_to_jsonspans_with_scores(nlp, tmp_path):
    export_jsonspans([predicted_doc(nlp)], tmp_path / "pred.jsonl")
    (record,) = [json.loads(line) for line in (tmp_path / "pred.jsonl").read_text(encoding="utf8").splitlines()]
    assert record["doc_id"] == 1 and record["text"] == TEXT
    assert record["annotations"] == [
        {"begin": 10, "end": 22, "label": "Problema", "score": 0.9},
        {"begin": 17, "end": 22, "label": "Anatomia", "score": 0.75},
        {"begin": 42, "end": 52, "label": "Medicação Habitual", "score": 0.5},
    ]


def test_gold_and_predicted_spans_mix_without_id_clash(nlp, tmp_path):
    convert_path(FIXTURES / "brat" / "notas", tmp_path / "gold.spacy", format="brat", nlp=nlp)
    doc = load_docs(tmp_path / "gold.spacy")[1]  # nota2: T1, T2
    extra = doc.char_span(0, 8, label="Problema")  # a prediction: no id, no stored source
    doc.spans["sc"] = list(doc.spans["sc"]) + [extra]
    assert [e.id for e in document_entities(doc)] == ["T1", "T2", None]
    export_brat([doc], tmp_path / "out")
    lines = (tmp_path / "out" / "nota2.ann").read_text(encoding="utf8").splitlines()
    assert [line.split("\t")[0] for line in lines] == ["T1", "T2", "T3"]
    assert lines[2] == "T3\tProblema 0 8\tDispneia"


def test_attributes_become_brat_attribute_lines(nlp, tmp_path):
    convert_path(FIXTURES / "json" / "er_ner_sample.json", tmp_path / "er.spacy", format="jsonspans", nlp=nlp)
    export_brat(load_docs(tmp_path / "er.spacy"), tmp_path / "out")
    lines = (tmp_path / "out" / "1.ann").read_text(encoding="utf8").splitlines()
    assert "T5\tAlergias_medicamentosas 115 125\tpenicilina" in lines
    assert "A1\tPolaridade T5 Positiva" in lines and "A2\tPolaridade T6 Negativa" in lines


def test_duplicate_and_unsafe_document_ids(nlp, tmp_path):
    docs = [nlp.make_doc("Febre."), nlp.make_doc("Tosse.")]
    for doc in docs:
        doc.spans["sc"] = [doc[0:1]]
        doc.user_data["clinical_pt"] = {"doc_id": "../a b", "entities": {}}
    export_brat(docs, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_b-2.ann", "a_b-2.txt", "a_b.ann", "a_b.txt"]


def test_export_without_the_spans_key_is_an_error(nlp, tmp_path):
    with pytest.raises(ConversionError, match="no document has spans key 'sc'"):
        export_brat([nlp.make_doc("Febre.")], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConversionError, match="no document has spans key 'gold'"):
        export_jsonspans([predicted_doc(nlp)], tmp_path / "x.json", spans_key="gold")
