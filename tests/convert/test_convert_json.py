"""JSON spans (ER_NER), Doccano, Argilla and spaCy DocBin inputs: reading, bad input, round trip."""

import codecs
import json

import pytest
from helpers import FIXTURES
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
    assert summary[:2] == (2, 7)
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
    # The draft response is not read, but counted: nothing is left out silently.
    assert report.ignored_lines == {"argilla suggestions": 1, "argilla responses not submitted": 1}
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


# --- issue 13: nothing lost, nothing crashes --------------------------------------------------------


def write_jsonl(path, *lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf8")
    return path


def test_doccano_record_with_label_and_entities_reads_both(nlp, tmp_path):
    record = {
        "id": 1,
        "text": "Febre alta e tosse seca.",
        "label": [[0, 5, "Problema"]],
        "entities": [{"id": 3, "start_offset": 13, "end_offset": 18, "label": "Problema"}],
    }
    report = convert(nlp, tmp_path, write_jsonl(tmp_path / "d.jsonl", json.dumps(record)), format="doccano")
    assert report.entities == 2
    doc = load_docs(tmp_path / "out.spacy")[0]
    assert [s.text for s in doc.spans["sc"]] == ["Febre", "tosse"]


def test_doccano_duplicate_entity_ids_are_both_exported(nlp, tmp_path):
    entities = [
        {"id": 31, "start_offset": 0, "end_offset": 5, "label": "Problema"},
        {"id": 31, "start_offset": 13, "end_offset": 18, "label": "Problema"},
    ]
    record = {"id": 1, "text": "Febre alta e tosse seca.", "entities": entities}
    report = convert(nlp, tmp_path, write_jsonl(tmp_path / "d.jsonl", json.dumps(record)), format="doccano")
    assert report.entities == 2
    assert report.repaired == [
        {"where": f"{tmp_path}/d.jsonl:line 1 annotation 2", "problem": "duplicate entity id '31'; stored as 'E1'"}
    ]
    summary = export_jsonspans(load_docs(tmp_path / "out.spacy"), tmp_path / "back.json")
    assert summary[:2] == (1, 2)  # the report said 2 and export used to write 1


def test_jsonspans_annotations_under_another_key_are_reported(nlp, tmp_path):
    unread = {"text": "Febre alta.", "entities": [{"start": 0, "end": 5, "label": "Problema"}], "meta": {"a": 1}}
    good = {
        "text": "Tosse seca.",
        "annotations": [{"begin": 0, "end": 5, "label": "Problema"}],
        "predictions": [{"begin": 6, "end": 10, "label": "Problema"}],
    }
    path = write_json(tmp_path / "d.json", [unread, good])
    with pytest.raises(
        ConversionError, match=r"d\.json record 1: nothing under 'annotations', but 'entities' holds span-like items"
    ):
        convert(nlp, tmp_path, path)
    report = convert(nlp, tmp_path, path, lenient=True)
    assert (report.docs, report.entities) == (1, 1)
    assert [e["where"] for e in report.errors] == [f"{path} record 1"]
    # beside the annotations that are read, the unread predictions are named with their record
    assert report.dropped == [
        {"where": f"{path} record 2", "problem": "span-like items under 'predictions' not read "
         "(this format reads only 'annotations')"}
    ]
    (note,) = [n for n in report.notes if "not read" in n]
    assert note == (
        f"{path}: fields not read: 'entities' in 1 record(s) (first: record 1; span-like), "
        "'meta' in 1 record(s) (first: record 1), 'predictions' in 1 record(s) (first: record 2; span-like)"
    )


@pytest.mark.parametrize(
    "format, record",
    [
        ("jsonspans", {"text": "Febre alta.", "annotations": [{"begin": 0, "end": 5, "label": LABEL}]})
        for LABEL in (5, True)
    ]
    + [
        ("doccano", {"text": "Febre alta.", "label": [[0, 5, 5]]}),
        ("argilla", {"text": "Febre alta.", "annotation": [[True, 0, 5]]}),
    ],
)
def test_number_and_bool_labels_are_refused(nlp, tmp_path, format, record):
    # They used to come out as IS_PUNCT / IS_ALPHA: spaCy takes an int label as a string hash.
    path = write_json(tmp_path / "d.json", [record, {"text": "Tosse.", "annotation": [], "label": []}])
    with pytest.raises(ConversionError, match=r"d\.json record 1 annotation 1: the label must be a non-empty string"):
        convert(nlp, tmp_path, path, format=format)
    report = convert(nlp, tmp_path, path, format=format, lenient=True)
    assert report.entities == 0 and len(report.dropped) == 1
    assert [len(doc.spans["sc"]) for doc in load_docs(tmp_path / "out.spacy")] == [0, 0]


def test_jsonl_splits_only_at_line_ends(nlp, tmp_path):
    # U+2028 and NEL are valid inside JSON strings; str.splitlines() used to split the record there.
    first = {"text": "Febre\u2028alta.", "annotations": [{"begin": 0, "end": 5, "label": "Problema"}]}
    second = {"text": "Tosse\x85seca.", "annotations": [{"begin": 0, "end": 5, "label": "Problema"}]}
    path = tmp_path / "d.jsonl"
    path.write_text(
        json.dumps(first, ensure_ascii=False) + "\r\n" + json.dumps(second, ensure_ascii=False) + "\n{oops\n",
        encoding="utf8",
        newline="",
    )
    with pytest.raises(ConversionError, match=r"d\.jsonl:line 3: malformed JSON line"):
        convert(nlp, tmp_path, path)
    report = convert(nlp, tmp_path, path, lenient=True)
    assert (report.docs, report.entities) == (2, 2)
    assert [e["where"] for e in report.errors] == [f"{path}:line 3"]


def test_deeply_nested_json_is_an_error_naming_the_line(nlp, tmp_path):
    path = tmp_path / "d.json"
    path.write_text('[\n{"text": "Febre.", "annotations": []},\n' + "[" * 100000, encoding="utf8")
    with pytest.raises(ConversionError, match=r"d\.json:line 3: JSON nested too deeply \(100001 levels\)"):
        convert(nlp, tmp_path, path)
    good = json.dumps({"text": "Febre.", "annotations": [{"begin": 0, "end": 5, "label": "Problema"}]})
    path = write_jsonl(tmp_path / "d.jsonl", good, '{"text": ' + "[" * 100000, good)
    report = convert(nlp, tmp_path, path, lenient=True)
    assert (report.docs, report.entities) == (2, 2)
    assert report.errors == [{"where": f"{path}:line 2", "problem": "JSON nested too deeply (100001 levels)"}]


def test_integer_beyond_pythons_digit_limit_is_an_error_naming_the_line(nlp, tmp_path):
    huge = "9" * 5000
    path = tmp_path / "d.json"
    path.write_text(f'[\n{{"text": "Febre.", "annotations": []}},\n{{"text": "x", "n": {huge}}}\n]', encoding="utf8")
    with pytest.raises(ConversionError, match=r"d\.json:line 3: an integer of 5000 digits"):
        convert(nlp, tmp_path, path)
    good = json.dumps({"text": "Febre.", "annotations": [{"begin": 0, "end": 5, "label": "Problema"}]})
    bad = '{"text": "Febre.", "annotations": [{"begin": %s, "end": 5, "label": "Problema"}]}' % huge
    report = convert(nlp, tmp_path, write_jsonl(tmp_path / "d.jsonl", good, bad), lenient=True)
    assert (report.docs, report.entities) == (1, 1)
    assert [e["where"] for e in report.errors] == [f"{tmp_path}/d.jsonl:line 2"]


def test_attributes_the_docbin_cannot_store_are_dropped_not_fatal(nlp, tmp_path):
    deep = "[" * 600 + "]" * 600
    annotation = f'{{"begin": 0, "end": 5, "label": "Problema", "n": {2**64}, "deep": {deep}, "Polaridade": "Negativa"}}'
    path = write_jsonl(tmp_path / "d.jsonl", '{"text": "Febre alta.", "annotations": [%s]}' % annotation)
    with pytest.raises(ConversionError, match=r"d\.jsonl:line 1 annotation 1: attribute 'n' not stored"):
        convert(nlp, tmp_path, path)
    report = convert(nlp, tmp_path, path, lenient=True)  # used to fail in DocBin.add (OverflowError, msgpack)
    assert report.entities == 1 and len(report.dropped) == 2
    (stored,) = entity_attributes(load_docs(tmp_path / "out.spacy")[0]).values()
    assert stored["attributes"] == {"Polaridade": "Negativa"}


@pytest.mark.parametrize(
    "annotation, problem",
    [
        ({"begin": 0, "start": 6, "end": 5, "label": "X"}, "both 'begin' and 'start' given"),
        ({"begin": 0, "end": 11, "label": "X", "fragments": [[6, 10]]}, "one fragment 6-10 that is not begin-end 0-11"),
        (
            {"begin": "Febre alta, tosse seca e dispneia aos pequenos esforcos", "end": 4, "label": "X"},
            "offsets are not integers",
        ),
    ],
)
def test_conflicting_or_long_annotation_fields(nlp, tmp_path, annotation, problem):
    path = write_json(tmp_path / "d.json", [{"text": "Febre alta.", "annotations": [annotation]}])
    with pytest.raises(ConversionError, match=r"d\.json record 1 annotation 1: ") as error:
        convert(nlp, tmp_path, path)
    assert problem in str(error.value)
    assert "pequenos esforcos" not in str(error.value)  # no more than a short excerpt of text in messages


def test_record_id_that_is_not_a_string_or_number_is_replaced(nlp, tmp_path):
    path = write_json(tmp_path / "d.json", [{"doc_id": {"a": 1}, "text": "Febre.", "annotations": []}])
    report = convert(nlp, tmp_path, path)
    assert [doc.user_data["clinical_pt"]["doc_id"] for doc in load_docs(tmp_path / "out.spacy")] == ["d-1"]
    problem = "the id is a dict, not a string or number; numbered d-1"
    assert report.repaired == [{"where": f"{path} record 1", "problem": problem}]


def test_argilla_v2_flattened_with_a_prediction_field_and_a_status_string(nlp, tmp_path):
    # Flattened v2 records carry metadata at the top level: a "prediction" field made them read as v1.
    text = "Iniciado omeprazol por epigastralgia."
    response = [{"start": 9, "end": 18, "label": "Tratamento"}]
    records = [
        {"id": "r1", "text": text, "prediction": "negativo", "entidades.responses": [response]},
        {"id": "r2", "text": text, "entidades.responses": [response], "entidades.responses.status": "submitted"},
    ]
    report = convert(nlp, tmp_path, write_json(tmp_path / "flat.json", records), format="argilla")
    assert report.entities == 2 and report.ignored_lines == {}
    assert [[s.text for s in doc.spans["sc"]] for doc in load_docs(tmp_path / "out.spacy")] == [["omeprazol"]] * 2
    assert any("fields not read: 'prediction'" in n for n in report.notes)


@pytest.mark.parametrize("annotation", [[["Problema", 23, 36]], [[1, 2]]], ids=["1.x spans", "not even spans"])
def test_argilla_v2_responses_beside_v1_annotation_spans(nlp, tmp_path, annotation):
    record = json.loads((JSON / "argilla_v2.json").read_text(encoding="utf8"))[0]
    record["annotation"] = annotation
    path = write_json(tmp_path / "a.json", [record])
    message = r"a\.json record 1 'annotation' item 1: 'annotation' \(Argilla 1\.x\) beside the 2\.x responses is not"
    with pytest.raises(ConversionError, match=message):
        convert(nlp, tmp_path, path, format="argilla")
    report = convert(nlp, tmp_path, path, format="argilla", lenient=True)
    assert report.entities == 2 and [d["where"] for d in report.dropped] == [f"{path} record 1 'annotation' item 1"]


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"responses": [1, 2]}, "'responses' must be an object"),
        ({"fields": "Iniciado"}, "'fields' must be an object"),
        (
            {"entidades.responses": [[]], "entidades.responses.status": ["submitted", "draft"]},
            "1 response(s) but 2 status(es)",
        ),
        ({"entidades.responses": [[]], "entidades.responses.status": [1]}, "statuses must be strings"),
    ],
)
def test_argilla_malformed_v2_records_are_errors(nlp, tmp_path, change, problem):
    record = {"id": "r1", "text": "Febre.", **change}
    path = write_json(tmp_path / "a.json", [record, {"id": "r2", "text": "Tosse.", "annotation": []}])
    with pytest.raises(ConversionError, match=r"a\.json record 1: ") as error:
        convert(nlp, tmp_path, path, format="argilla")
    assert problem in str(error.value)
    report = convert(nlp, tmp_path, path, format="argilla", lenient=True)
    assert report.docs == 1 and [e["where"] for e in report.errors] == [f"{path} record 1"]


def test_argilla_responses_nested_under_an_unknown_key_are_reported(nlp, tmp_path):
    record = json.loads((JSON / "argilla_v2.json").read_text(encoding="utf8"))[0]
    record["ents"] = record.pop("responses")  # nested four levels down: {question: [{"value": [spans]}]}
    path = write_json(tmp_path / "a.json", [record])
    with pytest.raises(ConversionError, match=r"a\.json record 1: nothing under 'responses', but 'ents' holds span"):
        convert(nlp, tmp_path, path, format="argilla")
    one_span = {**record, "ents": {"a": [1, 2, "Problema"]}}
    with pytest.raises(ConversionError, match=r"record 1: nothing under 'responses', but 'ents' holds span"):
        convert(nlp, tmp_path, write_json(tmp_path / "c.json", [one_span]), format="argilla")
    unannotated = {**record, "ents": {}}  # a record nobody annotated is read, with no entity
    report = convert(nlp, tmp_path, write_json(tmp_path / "b.json", [record, unannotated]), format="argilla",
                     lenient=True)
    assert (report.docs, report.entities) == (1, 0)
    assert [e["where"] for e in report.errors] == [f"{tmp_path / 'b.json'} record 1"]


# --- repeated keys: Python keeps the last value, so an annotation would be lost without a word ------------------


def test_a_key_given_twice_in_a_record_is_an_error_naming_the_record_and_the_key(nlp, tmp_path):
    # Two "annotations" keys in the second record: json.loads keeps the second list, the first would be lost.
    path = tmp_path / "twice.json"
    path.write_text(
        '[{"text": "Dor no peito.", "annotations": [{"start": 0, "end": 3, "label": "Problema"}]},\n'
        ' {"text": "Febre alta.", "annotations": [{"start": 0, "end": 5, "label": "Problema"}],\n'
        '  "annotations": [{"start": 6, "end": 10, "label": "Problema"}]}]',
        encoding="utf8",
    )
    with pytest.raises(ConversionError, match=r"twice.json record 2: key 'annotations' appears twice"):
        convert(nlp, tmp_path, path)
    report = convert(nlp, tmp_path, path, lenient=True)
    assert (report.docs, report.entities) == (1, 1)  # the first record is read, the second reported
    assert [e["where"] for e in report.errors] == [f"{path} record 2"]


def test_a_key_repeated_inside_an_annotation_is_found_in_jsonl_with_its_path(nlp, tmp_path):
    path = tmp_path / "twice.jsonl"
    path.write_text(
        '{"text": "Dor no peito.", "annotations": [{"start": 0, "end": 3, "label": "Problema"}]}\n'
        '{"text": "Febre.", "annotations": [{"start": 0, "end": 5, "label": "Problema", "label": "Teste"}]}\n',
        encoding="utf8",
    )
    report = convert(nlp, tmp_path, path, lenient=True)
    assert (report.docs, report.entities) == (1, 1)
    (error,) = report.errors
    assert error["where"] == f"{path}:line 2"
    assert error["problem"].startswith("key 'annotations.0.label' appears twice in one object")


def test_doccano_records_with_a_repeated_key_are_reported_too(nlp, tmp_path):
    path = tmp_path / "doccano.jsonl"
    path.write_text('{"text": "Dor.", "label": [[0, 3, "Problema"]], "label": []}\n', encoding="utf8")
    with pytest.raises(ConversionError, match="line 1: key 'label' appears twice"):
        convert(nlp, tmp_path, path, format="doccano")
