"""Export of gold and predicted documents to BRAT standoff and JSON spans."""

import json
import re

import pytest
from helpers import FIXTURES
from spacy.tokens import DocBin, Span

from spacy_clinical_pt.convert import convert_path, load_docs
from spacy_clinical_pt.corpus import ConversionError, ConversionReport, Entity, Record, build_docs
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
    assert summary[:2] == (1, 3) and not summary.skipped_attributes
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
        doc.spans["sc"] = [Span(doc, 0, 1, label="Problema")]
        doc.user_data["clinical_pt"] = {"doc_id": "../a b", "entities": {}}
    export_brat(docs, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_b-2.ann", "a_b-2.txt", "a_b.ann", "a_b.txt"]


def test_export_without_the_spans_key_is_an_error(nlp, tmp_path):
    with pytest.raises(ConversionError, match="no document has spans key 'sc'"):
        export_brat([nlp.make_doc("Febre.")], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConversionError, match="no document has spans key 'gold'"):
        export_jsonspans([predicted_doc(nlp)], tmp_path / "x.json", spans_key="gold")


# ---- what export writes, our converters read back ----------------------------------------------------

# Characters that str.splitlines() takes for line ends, legal inside an entity's text.
ODD = "\x0c\x85\u2028\u2029\x1c\x1d\x1e\x0b"
ODD_TEXT = f"Queixa de dor{ODD}torácica.\r\nNega febre.\rToma AAS{ODD}100 mg."


def odd_doc(nlp, doc_id="nota"):
    doc = nlp.make_doc(ODD_TEXT)
    first, second = ODD_TEXT.index("dor"), ODD_TEXT.index("AAS")
    doc.spans["sc"] = [
        doc.char_span(first, ODD_TEXT.index("."), label="Problema", alignment_mode="expand"),
        doc.char_span(ODD_TEXT.index("febre"), ODD_TEXT.index("febre") + 5, label="Problema"),
        doc.char_span(second, len(ODD_TEXT) - 1, label="Medicação", alignment_mode="expand"),
    ]
    doc.user_data["clinical_pt"] = {"doc_id": doc_id, "entities": {}}
    return doc


def read_back(nlp, tmp_path, exported, format):
    report = convert_path(exported, tmp_path / "back.spacy", format=format, nlp=nlp)
    (doc,) = load_docs(tmp_path / "back.spacy")
    return report, doc


@pytest.mark.parametrize("name", ["out.jsonl", "out.json", "brat"])
def test_export_then_convert_gives_back_text_and_entities_with_odd_characters(nlp, tmp_path, name):
    doc = odd_doc(nlp)
    expected = [(s.start_char, s.end_char, s.label_) for s in doc.spans["sc"]]
    if name == "brat":
        export_brat([doc], tmp_path / name)
        lines = (tmp_path / name / "nota.ann").read_bytes().split(b"\n")
        assert len(lines) == 4 and "\u2028".encode("utf8") in lines[0]  # one T line per entity
    else:
        export_jsonspans([doc], tmp_path / name)
    report, back = read_back(nlp, tmp_path, tmp_path / name, "brat" if name == "brat" else "jsonspans")
    assert back.text == ODD_TEXT and report.dropped == [] and report.errors == []
    assert [(s.start_char, s.end_char, s.label_) for s in back.spans["sc"]] == expected


def test_jsonl_export_escapes_the_line_separators_of_other_tools(nlp, tmp_path):
    export_jsonspans([odd_doc(nlp), odd_doc(nlp, "outra")], tmp_path / "out.jsonl")
    data = (tmp_path / "out.jsonl").read_text(encoding="utf8")
    assert len(data.splitlines()) == 2  # even str.splitlines() sees two records
    assert "\\u2028" in data and "\\u0085" in data


def test_predicted_docs_without_user_data_round_trip(nlp, tmp_path):
    DocBin(docs=[predicted_doc(nlp)], store_user_data=False).to_disk(tmp_path / "pred.spacy")
    docs = load_docs(tmp_path / "pred.spacy")
    assert docs[0].user_data == {}
    assert export_brat(docs, tmp_path / "brat")[:2] == (1, 3)
    report, back = read_back(nlp, tmp_path, tmp_path / "brat", "brat")
    assert [(s.text, s.label_) for s in back.spans["sc"]] == [
        ("dor no peito", "Problema"),
        ("peito", "Anatomia"),
        ("AAS 100 mg", "Medicação_Habitual"),
    ]
    assert export_jsonspans(docs, tmp_path / "pred.json")[:2] == (1, 3)


def test_document_ids_that_read_back_the_same(nlp, tmp_path):
    docs = []
    for identifier in ("007", "2021.03.nota", "Nota", "nota", "1" * 30):
        doc = nlp.make_doc("Febre.")
        doc.spans["sc"] = [Span(doc, 0, 1, label="Problema")]
        doc.user_data["clinical_pt"] = {"doc_id": identifier, "entities": {}}
        docs.append(doc)
    export_jsonspans(docs, tmp_path / "out.json")
    records = json.loads((tmp_path / "out.json").read_text(encoding="utf8"))
    assert [r["doc_id"] for r in records] == ["007", "2021.03.nota", "Nota", "nota", "1" * 30]
    export_brat(docs, tmp_path / "brat")
    # file names that differ only in case would overwrite each other on macOS and Windows
    assert sorted(p.name for p in (tmp_path / "brat").glob("*.txt")) == [
        "007.txt", "111111111111111111111111111111.txt", "2021.03.nota.txt", "Nota.txt", "nota-2.txt",
    ]  # fmt: skip
    convert_path(tmp_path / "brat", tmp_path / "back.spacy", format="brat", nlp=nlp)
    ids = sorted(doc.user_data["clinical_pt"]["doc_id"] for doc in load_docs(tmp_path / "back.spacy"))
    assert ids == ["007", "111111111111111111111111111111", "2021.03.nota", "Nota", "nota-2"]


@pytest.mark.parametrize(
    "text, start, end, label, problem",
    [
        ("Febre  alta.", 6, 7, "Problema", "doc 1 (x) entity at 6-7 holds only whitespace"),
        ("Febre.", 0, 5, "", "doc 1 (x) entity at 0-5 has an empty label"),
        ("Febre.", 0, 5, " ", "doc 1 (x) entity at 0-5 has an empty label"),
        ("   ", 0, 1, "Problema", "doc 1 (x) has no text"),
    ],
)
def test_what_the_converters_could_not_read_back_is_refused_before_writing(nlp, tmp_path, text, start, end, label, problem):
    doc = nlp.make_doc(text)
    doc.spans["sc"] = [doc.char_span(start, end, label=label, alignment_mode="expand")]
    doc.user_data["clinical_pt"] = {"doc_id": "x", "entities": {}}
    with pytest.raises(ConversionError) as caught:
        export_brat([doc], tmp_path / "brat")
    assert problem in str(caught.value)
    assert not (tmp_path / "brat").exists() or not any((tmp_path / "brat").iterdir())
    with pytest.raises(ConversionError, match=re.escape(problem)):
        export_jsonspans([doc], tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


def test_unwritable_outputs_are_conversion_errors_naming_the_path(nlp, tmp_path):
    (tmp_path / "a_file").write_text("x", encoding="utf8")
    with pytest.raises(ConversionError, match=r"a_file: cannot write the BRAT folder here"):
        export_brat([predicted_doc(nlp)], tmp_path / "a_file")
    with pytest.raises(ConversionError, match=r"a_file/sub: cannot write the BRAT folder here"):
        export_brat([predicted_doc(nlp)], tmp_path / "a_file" / "sub")
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(ConversionError, match=r"folder\.json: cannot write the JSON file here"):
        export_jsonspans([predicted_doc(nlp)], tmp_path / "folder.json")
    with pytest.raises(ConversionError, match=r"a_file/out\.json: cannot write the JSON file here"):
        export_jsonspans([predicted_doc(nlp)], tmp_path / "a_file" / "out.json")


def test_text_that_begins_with_a_byte_order_mark_is_refused_for_brat(nlp, tmp_path):
    doc = nlp.make_doc("\ufeff Febre alta.")
    doc.spans["sc"] = [doc.char_span(2, 7, label="Problema")]
    with pytest.raises(ConversionError, match=r"doc 1 \(doc00001\): the text begins with U\+FEFF"):
        export_brat([doc], tmp_path / "brat")
    export_jsonspans([doc], tmp_path / "out.json")  # inside a JSON string it is only a character
    report, back = read_back(nlp, tmp_path, tmp_path / "out.json", "jsonspans")
    assert back.text == "\ufeff Febre alta." and [s.text for s in back.spans["sc"]] == ["Febre"]


def test_attribute_that_is_not_valid_unicode_is_refused(nlp, tmp_path):
    doc = nlp.make_doc("Febre alta.")
    span = doc.char_span(0, 5, label="Problema")
    span.id_ = "T1"
    doc.spans["sc"] = [span]
    source = {"label": "Problema", "start": 0, "end": 5, "fragments": [], "attributes": {"Nota": "a\ud800"}}
    doc.user_data["clinical_pt"] = {"doc_id": "x", "entities": {"T1": source}}
    with pytest.raises(ConversionError, match=r"doc 1 \(x\): cannot be written as UTF-8"):
        export_brat([doc], tmp_path / "brat")
    with pytest.raises(ConversionError, match=r"doc 1 \(x\): cannot be written as UTF-8"):
        export_jsonspans([doc], tmp_path / "out.json")


def test_attributes_a_format_cannot_hold_are_counted_not_written(nlp, tmp_path):
    # A doccano entity may carry a field named like our offsets: kept as an attribute, it must not move the span.
    records = [Record("n1", TEXT, [Entity(10, 22, "Problema", {"begin": 3, "score": "alta", "Nota": "dor leve"})])]
    docs = list(build_docs(nlp, records, ConversionReport()))
    summary = export_jsonspans(docs, tmp_path / "out.json")
    (record,) = json.loads((tmp_path / "out.json").read_text(encoding="utf8"))
    assert record["annotations"] == [{"begin": 10, "end": 22, "label": "Problema", "Nota": "dor leve"}]
    assert summary.skipped_attributes == {"begin": 1, "score": 1}
    # BRAT's A lines hold True or one word: "dor leve" has a space
    summary = export_brat(docs, tmp_path / "brat")
    assert (tmp_path / "brat" / "n1.ann").read_text(encoding="utf8").splitlines() == [
        "T1\tProblema 10 22\tdor no peito", "A1\tscore T1 alta"
    ]
    assert summary.skipped_attributes == {"begin": 1, "Nota": 1}


def test_stored_offsets_that_are_bools_are_refused_before_writing(nlp, tmp_path):
    # user data from elsewhere: True is an int in Python, and export used to write "Problema True 5"
    doc = nlp.make_doc("Febre alta.")
    span = doc.char_span(0, 5, label="Problema")
    span.id_ = "T1"
    doc.spans["sc"] = [span]
    stored = {"label": "Problema", "start": True, "end": 5, "fragments": [[True, 5]], "attributes": {}}
    doc.user_data["clinical_pt"] = {"doc_id": "x", "entities": {"T1": stored}}
    with pytest.raises(ConversionError, match=r"doc 1 \(x\) entity at .* is no span of the text"):
        export_brat([doc], tmp_path / "brat")
    with pytest.raises(ConversionError, match=r"is no span of the text"):
        export_jsonspans([doc], tmp_path / "out.json")


# ---- assertion: a prediction qualified by clinical_context, a gold corpus's own attributes ----------------


def qualified_doc(nlp):
    """`predicted_doc` after `clinical_context`: "dor no peito" present, "febre" negated (extensions set by hand)."""
    import spacy_clinical_pt.context  # noqa: F401  registers the span extensions

    doc = predicted_doc(nlp)
    doc.spans["sc"] = list(doc.spans["sc"])[:1] + [doc.char_span(30, 35, label="Problema")]
    doc.spans["sc"].attrs["scores"] = [0.9, 0.8]
    present, negated = doc.spans["sc"]
    for span, assertion in ((present, "present"), (negated, "absent")):
        span._.assertion = assertion
        for flag in ("is_negated", "is_uncertain", "is_historical", "is_hypothetical", "is_family"):
            span._.set(flag, flag == "is_negated" and assertion == "absent")
    return doc


FLAGS_OFF = {"is_negated": False, "is_uncertain": False, "is_historical": False, "is_hypothetical": False,
             "is_family": False}


def test_a_predicted_assertion_is_written_as_brat_attribute_lines_and_json_fields(nlp, tmp_path):
    doc = qualified_doc(nlp)
    export_brat([doc], tmp_path / "out")
    assert (tmp_path / "out" / "doc00001.ann").read_text(encoding="utf8").splitlines() == [
        "T1\tProblema 10 22\tdor no peito", "T2\tProblema 30 35\tfebre", "A1\tNegation T2"]
    export_jsonspans([doc], tmp_path / "pred.jsonl")
    (record,) = [json.loads(line) for line in (tmp_path / "pred.jsonl").read_text(encoding="utf8").splitlines()]
    assert record["annotations"] == [
        {"begin": 10, "end": 22, "label": "Problema", "score": 0.9, "assertion": "present", **FLAGS_OFF},
        {"begin": 30, "end": 35, "label": "Problema", "score": 0.8, "assertion": "absent",
         **{**FLAGS_OFF, "is_negated": True}},
    ]


def test_what_export_writes_of_an_assertion_reads_back_as_gold(nlp, tmp_path):
    from spacy_clinical_pt.context.gold import gold_assertions

    doc = qualified_doc(nlp)
    export_brat([doc], tmp_path / "brat")
    export_jsonspans([doc], tmp_path / "pred.json")
    expected = {(2, 5, "Problema"): "present", (8, 9, "Problema"): "absent"}
    for source, format in ((tmp_path / "brat", "brat"), (tmp_path / "pred.json", "jsonspans")):
        convert_path(source, tmp_path / f"{format}.spacy", format=format, nlp=nlp)
        (back,) = load_docs(tmp_path / f"{format}.spacy")
        # BRAT marks the exceptions only: a present entity has no attribute line, so no gold assertion
        wanted = expected if format == "jsonspans" else {(8, 9, "Problema"): "absent"}
        assert gold_assertions(back) == wanted, format


def test_extensions_nobody_set_write_no_assertion(nlp, tmp_path):
    import spacy_clinical_pt.context  # noqa: F401  registered, but no clinical_context ran on this doc

    from spacy_clinical_pt.export import predicted_assertion

    doc = predicted_doc(nlp)
    assert [predicted_assertion(span) for span in doc.spans["sc"]] == [None, None, None]
    export_jsonspans([doc], tmp_path / "pred.jsonl")
    (record,) = [json.loads(line) for line in (tmp_path / "pred.jsonl").read_text(encoding="utf8").splitlines()]
    assert all("assertion" not in annotation for annotation in record["annotations"])


def test_gold_polarity_is_exported_as_read(nlp, tmp_path):
    convert_path(FIXTURES / "json" / "er_ner_sample.json", tmp_path / "er.spacy", format="jsonspans", nlp=nlp)
    export_jsonspans(load_docs(tmp_path / "er.spacy"), tmp_path / "back.json")
    annotations = json.loads((tmp_path / "back.json").read_text(encoding="utf8"))[0]["annotations"]
    assert annotations[-2:] == [
        {"Polaridade": "Positiva", "begin": 115, "end": 125, "label": "Alergias medicamentosas"},
        {"Polaridade": "Negativa", "begin": 142, "end": 147, "label": "Alergias medicamentosas"},
    ]
