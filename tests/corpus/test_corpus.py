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


def test_duplicate_entity_ids_get_fresh_ids_and_are_reported(blank):
    # Two BRAT lines with the same T-id, or a doccano export with a repeated entity id: both entities are kept.
    first = Entity(13, 25, "Problema", id="T1", origin="d.ann line 1")
    record = Record("dup", TEXT, [first, Entity(28, 33, "Problema", id="T1", origin="d.ann line 2")])
    report = ConversionReport()
    (doc,) = build_docs(blank, [record], report)
    stored = entity_attributes(doc)
    assert report.entities == 2 == len(stored)
    assert {k: (v["start"], v["end"]) for k, v in stored.items()} == {"T1": (13, 25), "E1": (28, 33)}
    assert sorted(s.id_ for s in doc.spans["sc"]) == ["E1", "T1"]
    assert report.repaired == [{"where": "d.ann line 2", "problem": "duplicate entity id 'T1'; stored as 'E1'"}]


@pytest.mark.parametrize("label", [5, True, 1.5, ["Problema"], {"x": 1}])
def test_a_label_that_is_not_a_string_is_refused_strict_and_dropped_lenient(blank, label):
    # `doc.char_span(label=5)` would take 5 as a string hash: the span came out labelled IS_PUNCT.
    record = Record("l", TEXT, [Entity(13, 25, label, origin="f.json record 1 annotation 1"), Entity(0, 8, "Teste")])
    with pytest.raises(ConversionError, match=r"f\.json record 1 annotation 1: the label must be a non-empty string"):
        list(build_docs(blank, [record], ConversionReport()))
    report = ConversionReport(lenient=True)
    (doc,) = build_docs(blank, [record], report)
    assert spans(doc) == [("Paciente", "Teste")]
    assert report.entities_per_label == {"Teste": 1}
    assert [d["where"] for d in report.dropped] == ["f.json record 1 annotation 1"]
    assert f"found {type(label).__name__}" in report.dropped[0]["problem"]
    assert "documents, 1 entities (Teste 1)" in report.summary()  # mixed labels used to fail sorting here


@pytest.mark.parametrize("start, end", [(True, 8), (0, True), (0.0, 8)])
def test_bool_and_float_offsets_are_not_integers(blank, start, end):
    record = Record("b", TEXT, [Entity(start, end, "Teste", origin="b.json record 1 annotation 1")])
    with pytest.raises(ConversionError, match=r"b\.json record 1 annotation 1: offsets are not integers"):
        list(build_docs(blank, [record], ConversionReport()))


def nested_list(depth):
    value = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_attributes_msgpack_cannot_store_are_dropped_and_reported(blank):
    attributes = {"big": 2**64, "small": -(2**63) - 1, "deep": nested_list(600), "max": 2**64 - 1, "ok": "Negativa"}
    entity = Entity(13, 25, "Problema", attributes=attributes, origin="a.json record 1 annotation 1")
    record = Record("a", TEXT, [entity])
    with pytest.raises(ConversionError, match=r"a\.json record 1 annotation 1: attribute 'big' .*64-bit"):
        list(build_docs(blank, [record], ConversionReport()))
    report = ConversionReport(lenient=True)
    (doc,) = build_docs(blank, [record], report)
    assert report.entities == 1
    assert entity_attributes(doc)["E1"]["attributes"] == {"max": 2**64 - 1, "ok": "Negativa"}
    assert [d["problem"].split(":")[0] for d in report.dropped] == [
        "attribute 'big' not stored", "attribute 'small' not stored", "attribute 'deep' not stored"
    ]
    assert "nested deeper than" in report.dropped[2]["problem"]
    DocBin(store_user_data=True, docs=[doc]).to_bytes()  # msgpack used to fail here (OverflowError, recursion)


def test_lone_surrogates_are_replaced_keeping_offsets(blank):
    # JSON can escape half of a surrogate pair ("\ud83d"); spaCy's tokenizer and msgpack cannot encode it.
    text = "Dor \ud83d no peito."
    attributes = {"nota": "x\ud800"}
    entity = Entity(9, 14, "Anatomia\udc80", attributes, id="T\udfff", origin="s.json record 1 annotation 1")
    report = ConversionReport()
    (doc,) = build_docs(blank, [Record("s\ud800", text, [entity], "s.json record 1")], report)
    assert doc.text == "Dor \ufffd no peito." and spans(doc) == [("peito", "Anatomia\ufffd")]
    assert entity_attributes(doc)["T\ufffd"]["attributes"] == {"nota": "x\ufffd"}
    assert doc_id(doc) == "s\ufffd"
    assert [r["problem"] for r in report.repaired] == [
        "lone surrogates (half of a UTF-16 pair) replaced by U+FFFD; offsets unchanged",
        "lone surrogates replaced by U+FFFD in the label and id",
        "lone surrogates replaced by U+FFFD in attribute 'nota'",
    ]
    DocBin(store_user_data=True, docs=[doc]).to_bytes()


def test_text_over_max_length_or_not_a_string_is_a_record_error():
    nlp = spacy.blank("pt")
    nlp.max_length = 20
    records = [
        Record("long", "Febre " * 10, [Entity(0, 5, "Problema")], "n.jsonl:line 1"),
        Record("none", None, [], "n.jsonl:line 2"),
        Record("ok", "Febre.", [Entity(0, 5, "Problema")], "n.jsonl:line 3"),
    ]
    message = r"n\.jsonl:line 1: the text has 60 characters, over the tokenizer's max_length 20"
    with pytest.raises(ConversionError, match=message):
        list(build_docs(nlp, records, ConversionReport()))
    report = ConversionReport(lenient=True)
    docs = list(build_docs(nlp, records, report))
    assert [doc_id(d) for d in docs] == ["ok"] and report.entities == 1
    assert [e["where"] for e in report.errors] == ["n.jsonl:line 1", "n.jsonl:line 2"]
    assert "the text is not a string" in report.errors[1]["problem"]


def test_user_data_of_another_tool_under_our_key_reads_as_none(nlp):
    doc = nlp.make_doc("Nega febre.")
    doc.user_data["clinical_pt"] = ["not", "ours"]
    assert doc_id(doc) is None and entity_attributes(doc) == {}
    doc.user_data["clinical_pt"] = {"doc_id": 7, "entities": {"T1": "a string, not an entity"}}
    assert doc_id(doc) == "7" and entity_attributes(doc) == {}
