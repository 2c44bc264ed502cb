"""The shared builder: records -> Docs with nested, overlapping and discontinuous spans, and the report."""

import json

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_clinical_pt.corpus import (
    ConversionError,
    ConversionReport,
    Entity,
    Record,
    build_docs,
    doc_id,
    entity_attributes,
    excerpt,
)

TEXT = "Paciente com dor no peito e edema em MMII."


@pytest.fixture(scope="module")
def blank():
    return spacy.blank("pt")


def spans(doc, key="sc"):
    return [(s.text, s.label_) for s in doc.spans[key]]


def test_nested_and_overlapping_entities_are_all_kept(blank):
    record = Record(
        "n1",
        TEXT,
        [
            Entity(13, 25, "Problema"),  # dor no peito
            Entity(20, 25, "Anatomia"),  # peito (nested)
            Entity(13, 19, "Teste"),  # dor no (overlaps Problema, same start)
        ],
    )
    report = ConversionReport()
    (doc,) = build_docs(blank, [record], report)
    assert spans(doc) == [("dor no", "Teste"), ("dor no peito", "Problema"), ("peito", "Anatomia")]
    assert report.entities == 3 and report.docs == 1
    assert report.entities_per_label == {"Problema": 1, "Anatomia": 1, "Teste": 1}
    assert doc_id(doc) == "n1"


def test_discontinuous_covering_and_fragments(blank):
    # "edema ... MMII" as one discontinuous Problema
    entity = Entity(28, 41, "Problema", fragments=((28, 33), (37, 41)), id="T9")
    record = Record("n2", TEXT, [entity])
    (covering,) = build_docs(blank, [record], ConversionReport(), discontinuous="covering")
    assert spans(covering) == [("edema em MMII", "Problema")]
    (fragmented,) = build_docs(blank, [record], ConversionReport(), discontinuous="fragments")
    assert spans(fragmented) == [("edema", "Problema"), ("MMII", "Problema")]
    assert {s.id_ for s in fragmented.spans["sc"]} == {"T9"}
    assert entity_attributes(fragmented)["T9"]["fragments"] == [[28, 33], [37, 41]]


def test_attributes_survive_docbin(blank):
    record = Record("n3", TEXT, [Entity(13, 25, "Problema", attributes={"Polaridade": "Negativa"}, id="A1")])
    (doc,) = build_docs(blank, [record], ConversionReport())
    docbin = DocBin(store_user_data=True, docs=[doc])
    (back,) = DocBin().from_bytes(docbin.to_bytes()).get_docs(blank.vocab)
    assert spans(back) == spans(doc)
    assert back.spans["sc"][0].id_ == "A1"
    assert entity_attributes(back)["A1"]["attributes"] == {"Polaridade": "Negativa"}


@pytest.mark.parametrize(
    "entity, message",
    [
        (Entity(13, 25, None, origin="f.json record 2"), "f.json record 2: empty or null label"),
        (Entity(13, 25, "  ", origin="f.json record 2"), "empty or null label"),
        (Entity(30, 500, "Problema", origin="a.ann line 4"), "a.ann line 4: offsets 30-500 beyond the text"),
        (Entity(-1, 5, "Problema", origin="a.ann line 4"), "beyond the text"),
        (Entity(25, 13, "Problema", origin="a.ann line 5"), "a.ann line 5: start 25 is not before end 13"),
        (Entity(13, 13, "Problema", origin="a.ann line 5"), "start 13 is not before end 13"),
    ],
)
def test_bad_entities_strict_raise_and_lenient_drop(blank, entity, message):
    record = Record("bad", TEXT, [entity, Entity(0, 8, "Teste")])
    with pytest.raises(ConversionError, match=message):
        list(build_docs(blank, [record], ConversionReport()))
    report = ConversionReport(lenient=True)
    (doc,) = build_docs(blank, [record], report)
    assert spans(doc) == [("Paciente", "Teste")]
    assert len(report.dropped) == 1 and message.split(": ")[-1] in report.dropped[0]["problem"]
    assert report.entities == 1


def test_misaligned_offsets_expand_or_contract_and_are_counted(blank):
    # "or no pei": starts and ends inside tokens
    record = Record("m", TEXT, [Entity(14, 23, "Problema", origin="m.ann line 1")])
    report = ConversionReport()
    (doc,) = build_docs(blank, [record], report, alignment="expand")
    assert spans(doc) == [("dor no peito", "Problema")]
    assert report.misaligned == 1 and len(report.repaired) == 1
    assert "m.ann line 1" == report.repaired[0]["where"]

    report = ConversionReport()
    (doc,) = build_docs(blank, [record], report, alignment="contract")
    assert spans(doc) == [("no", "Problema")]
    assert report.misaligned == 1


def test_contract_to_nothing_is_a_drop_not_a_silent_loss(blank):
    record = Record("m", TEXT, [Entity(14, 16, "Problema", origin="m.ann line 1")])  # "or" inside "dor"
    with pytest.raises(ConversionError, match="m.ann line 1: .*covers no whole token"):
        list(build_docs(blank, [record], ConversionReport(), alignment="contract"))
    report = ConversionReport(lenient=True)
    (doc,) = build_docs(blank, [record], report, alignment="contract")
    assert spans(doc) == [] and report.misaligned == 1 and len(report.dropped) == 1 and report.entities == 0


def test_whitespace_inside_offsets_is_trimmed_and_reported(blank):
    record = Record("w", TEXT, [Entity(12, 26, "Problema")])  # " dor no peito "
    report = ConversionReport()
    (doc,) = build_docs(blank, [record], report)
    assert spans(doc) == [("dor no peito", "Problema")]
    assert report.misaligned == 0 and "whitespace trimmed" in report.repaired[0]["problem"]


def test_report_json_has_the_documented_keys(blank, tmp_path):
    report = ConversionReport(lenient=True)
    list(build_docs(blank, [Record("r", TEXT, [Entity(0, 8, None, origin="r record 1")])], report))
    path = tmp_path / "report.json"
    report.write_json(path)
    data = json.loads(path.read_text())
    assert {"docs", "entities", "entities_per_label", "misaligned", "repaired", "dropped", "errors"} <= set(data)
    assert data["docs"] == 1 and data["entities"] == 0 and len(data["dropped"]) == 1
    assert "dropped: r record 1" in report.summary()


def test_excerpt_is_short_and_single_line():
    assert excerpt("a\r\nb") == "a\\r\\nb"
    long = excerpt("x" * 500)
    assert len(long) == 40 and long.endswith("...")


def test_unknown_modes_are_rejected(blank):
    with pytest.raises(ValueError, match="discontinuous"):
        list(build_docs(blank, [], ConversionReport(), discontinuous="merge"))
    with pytest.raises(ValueError, match="alignment"):
        list(build_docs(blank, [], ConversionReport(), alignment="nearest"))


def test_generated_ids_never_clash_with_source_ids(blank):
    record = Record("ids", TEXT, [Entity(0, 8, "Teste"), Entity(13, 25, "Problema", id="E1")])
    (doc,) = build_docs(blank, [record], ConversionReport())
    stored = entity_attributes(doc)
    assert set(stored) == {"E1", "E2"} and stored["E1"]["label"] == "Problema" and stored["E2"]["label"] == "Teste"
