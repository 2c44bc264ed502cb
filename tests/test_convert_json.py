"""JSON spans (ER_NER), Doccano, Argilla and spaCy DocBin inputs: reading, bad input, round trip."""

import codecs
import json

import pytest
from conftest import FIXTURES
from spacy.tokens import DocBin

from spacy_clinical_pt.convert import FORMATS, convert_path, load_docs, read_records
from spacy_clinical_pt.corpus import ConversionError, ConversionReport, entity_attributes
from spacy_clinical_pt.export import export_brat, export_jsonspans

JSON = FIXTURES / "json"
ER_SAMPLE = JSON / "er_ner_sample.json"


def convert(nlp, tmp_path, source, format="jsonspans", **options):
    return convert_path(source, tmp_path / "out.spacy", format=format, nlp=nlp, **options)


def write_json(path, value):
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf8")
    return path


def test_formats_table_names_every_reader():
    assert set(FORMATS) == {"brat", "jsonspans", "doccano", "argilla", "spacy", "semclinbr", "conll"}


# --- jsonspans ---------------------------------------------------------------------------------------


def test_jsonspans_keeps_crlf_offsets_and_attributes(nlp, tmp_path):
    report = convert(nlp, tmp_path, ER_SAMPLE)
    assert (report.docs, report.entities, report.misaligned) == (2, 7, 0)
    doc = load_docs(tmp_path / "out.spacy")[0]
    assert "\r\n" in doc.text  # ER_NER offsets count "\r\n": the text is kept as is
    spans = [(s.text, s.label_) for s in doc.spans["sc"]]
    assert ("metformina 850 mg 2id", "Medicação Habitual") in spans and ("AINEs", "Alergias medicamentosas") in spans
    polarities = {a["attributes"].get("Polaridade") for a in entity_attributes(doc).values()}
    assert polarities == {None, "Positiva", "Negativa"}


def test_jsonspans_round_trip_is_identical(nlp, tmp_path):
    convert(nlp, tmp_path, ER_SAMPLE)
    summary = export_jsonspans(load_docs(tmp_path / "out.spacy"), tmp_path / "back.json")
    assert summary == (2, 7)
    original = json.loads(ER_SAMPLE.read_text(encoding="utf8"))
    assert json.loads((tmp_path / "back.json").read_text(encoding="utf8")) == original


def test_jsonl_input_with_start_key(nlp, tmp_path):
    text = "Toma ramipril 5 mg."
    path = tmp_path / "in.jsonl"
    path.write_text(
        json.dumps({"text": text, "annotations": [{"start": 5, "end": 18, "label": "Medicação Habitual"}]}) + "\n\n",
        encoding="utf8",
    )
    report = convert(nlp, tmp_path, path)
    assert report.entities == 1
    doc = load_docs(tmp_path / "out.spacy")[0]
    assert [s.text for s in doc.spans["sc"]] == ["ramipril 5 mg"]


def test_null_label_strict_names_record_lenient_reports_it(nlp, tmp_path):
    record = {"text": "Nega alergias. Toma AAS.", "annotations": [{"begin": 20, "end": 23, "label": None}]}
    good = {"text": "Toma AAS.", "annotations": [{"begin": 5, "end": 8, "label": "Medicação Habitual"}]}
    path = write_json(tmp_path / "train.json", [good, record])
    with pytest.raises(ConversionError, match=r"train\.json record 2 annotation 1: empty or null label"):
        convert(nlp, tmp_path, path)
    report = convert(nlp, tmp_path, path, lenient=True)
    assert (report.docs, report.entities) == (2, 1)
    assert [d["where"].rsplit("/", 1)[-1] for d in report.dropped] == ["train.json record 2 annotation 1"]


@pytest.mark.parametrize(
    "annotation, problem",
    [
        ({"begin": 0, "end": 90, "label": "X"}, "beyond the text"),
        ({"begin": 5, "end": 5, "label": "X"}, "is not before end"),
        ({"begin": "0", "end": 4, "label": "X"}, "offsets are not integers"),
        ({"begin": 0.0, "end": 4, "label": "X"}, "offsets are not integers"),
        ({"end": 4, "label": "X"}, "without start or end"),
        ({"begin": 0, "end": 4, "label": ""}, "empty or null label"),
        ({"begin": 0, "end": 4, "label": "X", "text": "Febre"}, "does not match the text"),
        ("Febre", "expected an annotation object"),
    ],
)
def test_bad_annotation_strict_and_lenient(nlp, tmp_path, annotation, problem):
    path = write_json(tmp_path / "d.json", [{"text": "Febre alta.", "annotations": [annotation]}])
    with pytest.raises(ConversionError) as error:
        convert(nlp, tmp_path, path)
    assert "d.json record 1 annotation 1" in str(error.value) and problem in str(error.value)
    report = convert(nlp, tmp_path, path, lenient=True)
    assert report.docs == 1 and report.entities == 0 and problem in report.dropped[0]["problem"]


def test_bad_records(nlp, tmp_path):
    path = write_json(tmp_path / "d.json", [{"annotations": []}, {"text": "Febre.", "annotations": {}}, 3])
    with pytest.raises(ConversionError, match=r"d\.json record 1: the 'text' field must be a string \(missing\)"):
        convert(nlp, tmp_path, path)
    report = ConversionReport(lenient=True)
    assert list(read_records(path, "jsonspans", report)) == []
    assert [e["where"].rsplit(" ", 1)[-1] for e in report.errors] == ["1", "2", "3"]


def test_malformed_json_names_the_line(nlp, tmp_path):
    path = tmp_path / "d.json"
    path.write_text('[\n{"text": "Febre.", "annotations": []},\n{"text": }\n]', encoding="utf8")
    with pytest.raises(ConversionError, match=r"d\.json:line 3: malformed JSON"):
        convert(nlp, tmp_path, path)


def test_malformed_jsonl_line_is_skipped_in_lenient_mode(nlp, tmp_path):
    path = tmp_path / "d.jsonl"
    good = json.dumps({"text": "Febre.", "annotations": [{"begin": 0, "end": 5, "label": "Diagnóstico"}]})
    path.write_text(f"{good}\n{{oops\n{good}\n", encoding="utf8")
    with pytest.raises(ConversionError, match=r"d\.jsonl:line 2: malformed JSON line"):
        convert(nlp, tmp_path, path)
    report = convert(nlp, tmp_path, path, lenient=True)
    assert (report.docs, report.entities, len(report.errors)) == (2, 2, 1)


def test_missing_and_empty_files(nlp, tmp_path):
    with pytest.raises(ConversionError, match="no such file"):
        convert(nlp, tmp_path, tmp_path / "absent.json")
    (tmp_path / "empty.json").write_text("  \n", encoding="utf8")
    with pytest.raises(ConversionError, match=r"empty\.json: the file is empty"):
        convert(nlp, tmp_path, tmp_path / "empty.json")
    with pytest.raises(ConversionError, match="no documents were read"):
        convert(nlp, tmp_path, tmp_path / "empty.json", lenient=True)


def test_bom_and_cp1252_files(nlp, tmp_path):
    record = [{"text": "Alergia à penicilina.", "annotations": [{"begin": 10, "end": 20, "label": "Alergias"}]}]
    data = json.dumps(record, ensure_ascii=False)
    (tmp_path / "bom.json").write_bytes(codecs.BOM_UTF8 + data.encode("utf8"))
    (tmp_path / "latin.json").write_bytes(data.encode("cp1252"))
    for name, note in (("bom.json", "byte-order mark"), ("latin.json", "decoded as cp1252")):
        report = convert(nlp, tmp_path, tmp_path / name)
        assert report.entities == 1 and any(note in n for n in report.notes)
        doc = load_docs(tmp_path / "out.spacy")[0]
        assert [s.text for s in doc.spans["sc"]] == ["penicilina"]


def test_discontinuous_entity_survives_brat_to_json_to_brat(nlp, tmp_path):
    notes = FIXTURES / "brat" / "notas"
    convert(nlp, tmp_path, notes, format="brat")
    export_jsonspans(load_docs(tmp_path / "out.spacy"), tmp_path / "notes.json")
    exported = json.loads((tmp_path / "notes.json").read_text(encoding="utf8"))
    assert {"begin": 28, "end": 42, "label": "Problema", "fragments": [[37, 42], [28, 32]]} in exported[0]["annotations"]
    convert(nlp, tmp_path, tmp_path / "notes.json")
    export_brat(load_docs(tmp_path / "out.spacy"), tmp_path / "back")
    assert "Problema 37 42;28 32\tedema MMII" in (tmp_path / "back" / "nota1.ann").read_text(encoding="utf8")


def test_option_that_does_not_apply_is_refused(tmp_path):
    with pytest.raises(ValueError, match="source_key does not apply to format 'jsonspans'"):
        read_records(ER_SAMPLE, "jsonspans", ConversionReport(), source_key="sc")


# --- doccano -----------------------------------------------------------------------------------------


def test_doccano_both_layouts_offset_zero_and_leading_whitespace(nlp, tmp_path):
    report = convert(nlp, tmp_path, JSON / "doccano.jsonl", format="doccano")
    assert (report.docs, report.entities) == (2, 4)
    assert report.ignored_lines == {"doccano relations": 1}
    first, second = load_docs(tmp_path / "out.spacy")
    assert [(s.start_char, s.text) for s in first.spans["sc"]] == [(0, "Febre"), (13, "tosse")]
    assert second.text.startswith("  ")  # leading whitespace shifts nothing
    assert sorted(s.text for s in second.spans["sc"]) == ["Dor abdominal difusa", "abdominal"]


def test_doccano_bad_triple(nlp, tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"text": "Febre.", "label": [[0, 5]]}) + "\n", encoding="utf8")
    with pytest.raises(ConversionError, match=r"d\.jsonl:line 1 annotation 1: expected \[start, end, label\]"):
        convert(nlp, tmp_path, path, format="doccano")


# --- argilla -----------------------------------------------------------------------------------------


def test_argilla_v1_annotation_not_prediction(nlp, tmp_path):
    report = convert(nlp, tmp_path, JSON / "argilla_v1.json", format="argilla")
    assert (report.docs, report.entities) == (1, 2)
    assert report.ignored_lines == {"argilla predictions": 1}
    doc = load_docs(tmp_path / "out.spacy")[0]
    assert sorted((s.text, s.label_) for s in doc.spans["sc"]) == [("Tomografia de torax", "Teste"), ("torax", "Anatomia")]


def test_argilla_v2_first_submitted_response(nlp, tmp_path):
    report = convert(nlp, tmp_path, JSON / "argilla_v2.json", format="argilla")
    assert (report.docs, report.entities) == (1, 2)
    assert report.ignored_lines == {"argilla suggestions": 1}
    doc = load_docs(tmp_path / "out.spacy")[0]
    assert sorted((s.text, s.label_) for s in doc.spans["sc"]) == [("epigastralgia", "Problema"), ("omeprazol", "Tratamento")]


def test_argilla_v2_flattened_records_skip_drafts(nlp, tmp_path):
    text = "Iniciado omeprazol por epigastralgia."
    record = {
        "id": "r3",
        "text": text,
        "entidades.responses": [[{"start": 0, "end": 8, "label": "Tratamento"}], [{"start": 9, "end": 18, "label": "Tratamento"}]],
        "entidades.responses.users": ["u1", "u2"],
        "entidades.responses.status": ["draft", "submitted"],
    }
    report = convert(nlp, tmp_path, write_json(tmp_path / "flat.json", [record]), format="argilla")
    doc = load_docs(tmp_path / "out.spacy")[0]
    assert report.entities == 1 and [s.text for s in doc.spans["sc"]] == ["omeprazol"]


def test_argilla_bad_span(nlp, tmp_path):
    path = write_json(tmp_path / "a.json", [{"text": "Febre.", "annotation": [["Problema", 0]]}])
    with pytest.raises(ConversionError, match=r"a\.json record 1 annotation 1: expected \[label, start, end\]"):
        convert(nlp, tmp_path, path, format="argilla")


# --- spacy DocBin ------------------------------------------------------------------------------------


def test_spacy_input_from_doc_ents_and_other_key(nlp, tmp_path):
    doc = nlp.make_doc("Dor no peito irradiada.")
    doc.ents = [doc.char_span(0, 12, label="Problema")]
    doc.spans["gold"] = [doc.char_span(7, 12, label="Anatomia"), doc.char_span(0, 12, label="Problema")]
    DocBin(docs=[doc]).to_disk(tmp_path / "in.spacy")
    convert(nlp, tmp_path, tmp_path / "in.spacy", format="spacy")
    converted = load_docs(tmp_path / "out.spacy")[0]
    assert [(s.text, s.label_) for s in converted.spans["sc"]] == [("Dor no peito", "Problema")]
    report = convert(nlp, tmp_path, tmp_path / "in.spacy", format="spacy", source_key="gold", spans_key="spans")
    assert report.entities == 2
    converted = load_docs(tmp_path / "out.spacy")[0]
    assert len(converted.spans["spans"]) == 2
    with pytest.raises(ConversionError, match=r"in\.spacy: no document has spans key 'nope' \(keys found: \['gold'\]\)"):
        convert(nlp, tmp_path, tmp_path / "in.spacy", format="spacy", source_key="nope")


def test_spacy_input_keeps_fragments_and_attributes(nlp, tmp_path):
    convert(nlp, tmp_path, FIXTURES / "brat" / "notas", format="brat", discontinuous="fragments")
    (tmp_path / "out.spacy").rename(tmp_path / "brat.spacy")
    report = convert(nlp, tmp_path, tmp_path / "brat.spacy", format="spacy", spans_key="sc")
    assert report.entities == 8
    doc = load_docs(tmp_path / "out.spacy")[0]
    assert [list(f) for f in entity_attributes(doc)["T3"]["fragments"]] == [[37, 42], [28, 32]]


def test_spacy_input_not_a_docbin(nlp, tmp_path):
    (tmp_path / "bad.spacy").write_bytes(b"not a docbin")
    with pytest.raises(ConversionError, match=r"bad\.spacy: not a spaCy DocBin file"):
        convert(nlp, tmp_path, tmp_path / "bad.spacy", format="spacy")
