"""SemClinBr XML: UMLS semantic types mapped to semantic groups, nested and multi-group tags, bad input."""

import codecs
from functools import lru_cache

import pytest
import spacy

from helpers import FIXTURES
from spacy_clinical_pt.convert.semclinbr import read_semclinbr, resolve_label, semantic_groups, semantic_types
from spacy_clinical_pt.corpus import ConversionError, ConversionReport, build_docs, entity_attributes

SEMCLINBR = FIXTURES / "semclinbr"
NOTE = "Paciente refere cefaleia intensa e febre.\nAo exame: rigidez de nuca."


@lru_cache(maxsize=1)
def blank_pt():
    return spacy.blank("pt")


def spans(records, report=None, **kwargs):
    """[(text, label)] per document, in span order."""
    report = report or ConversionReport()
    docs = build_docs(blank_pt(), records, report, **kwargs)
    return [[(s.text, s.label_) for s in doc.spans["sc"]] for doc in docs]


def xml_file(tmp_path, tags: str, text: str = NOTE, name: str = "nota.xml", encoding: str = "utf8", head=None):
    """Write a SemClinBr XML file with `text` and the tag lines `tags`."""
    head = head if head is not None else '<?xml version="1.0" encoding="UTF-8" ?>\n'
    content = f"{head}<SemClinBr>\n<TEXT><![CDATA[{text}]]></TEXT>\n<TAGS>\n{tags}\n</TAGS>\n</SemClinBr>\n"
    path = tmp_path / name
    path.write_bytes(content.encode(encoding))
    return path


def tag(tag_id, start, end, value, text=None):
    text_attribute = "" if text is None else f' text="{text}"'
    return f'<Entity id="{tag_id}" start="{start}" end="{end}"{text_attribute} tag="{value}" />'


# ---- the semantic group table ------------------------------------------------------------------------


def test_table_is_the_complete_semgroups_table():
    current = [t for t in semantic_types() if not t.retired]
    assert len(current) == 127
    assert len({t.tui for t in current}) == 127 and len({t.abbreviation for t in current}) == 127
    assert sorted(semantic_groups()) == [
        "ACTI", "ANAT", "CHEM", "CONC", "DEVI", "DISO", "GENE", "GEOG",
        "LIVB", "OBJC", "OCCU", "ORGA", "PHEN", "PHYS", "PROC",
    ]  # fmt: skip
    assert semantic_groups()["CHEM"] == "Chemicals & Drugs"
    per_group = {g: sum(t.group == g for t in current) for g in ("DISO", "ANAT", "PROC", "CHEM", "LIVB")}
    assert per_group == {"DISO": 12, "ANAT": 11, "PROC": 7, "CHEM": 20, "LIVB": 21}


@pytest.mark.parametrize(
    "value, group, type_name",
    [
        ("T047", "Disorders", "Disease or Syndrome"),
        ("t184", "Disorders", "Sign or Symptom"),
        ("dsyn", "Disorders", "Disease or Syndrome"),
        ("Body Part, Organ, or Organ Component", "Anatomy", "Body Part, Organ, or Organ Component"),
        ("therapeutic_or_preventive_procedure", "Procedures", "Therapeutic or Preventive Procedure"),
        ("T121", "Chemicals & Drugs", "Pharmacologic Substance"),
        ("T201", "Physiology", "Clinical Attribute"),
        ("T034", "Phenomena", "Laboratory or Test Result"),
        ("T119", "Chemicals & Drugs", "Lipid"),  # retired type, still mapped
        ("DISO", "Disorders", "Disorders"),  # a group written instead of a type
    ],
)
def test_types_resolve_by_tui_abbreviation_or_name(value, group, type_name):
    assert resolve_label(value)[0] == group
    assert resolve_label(value, keep_types=True)[0] == type_name


def test_unknown_types_do_not_resolve():
    assert resolve_label("T999") is None and resolve_label("Doença") is None


# ---- the fixtures --------------------------------------------------------------------------------------


def test_fixture_note_gives_groups_nested_and_multilabel_spans():
    report = ConversionReport()
    (record,) = read_semclinbr(SEMCLINBR / "nota_0001.xml", report)
    assert record.doc_id == "nota_0001"
    (doc_spans,) = spans([record], report)
    assert doc_spans == [
        ("tabagista", "Activities & Behaviors"),
        ("tabagista", "Disorders"),
        ("hipertenso", "Disorders"),
        ("dor torácica em aperto", "Disorders"),
        ("torácica", "Anatomy"),
        ("membro superior esquerdo", "Anatomy"),
        ("dispneia", "Disorders"),
        ("PA 150x90 mmHg", "Phenomena"),
        ("PA 150x90 mmHg", "Physiology"),
        ("Glicemia capilar", "Physiology"),
        ("Glicemia capilar", "Procedures"),
        ("ECG", "Procedures"),
        ("supradesnivelamento de ST", "Disorders"),
        ("parede inferior", "Anatomy"),
        ("IAM", "Disorders"),
        ("AAS", "Chemicals & Drugs"),
        ("clopidogrel", "Chemicals & Drugs"),
        ("cateterismo cardíaco", "Procedures"),
        ("cardíaco", "Anatomy"),
    ]
    assert report.ignored_lines == {"link tags": 1}
    assert report.repaired == [] and report.dropped == []


def test_one_entity_per_group_with_ids_naming_the_group():
    (record,) = read_semclinbr(SEMCLINBR / "nota_0001.xml", ConversionReport())
    by_id = {e.id: e for e in record.entities}
    assert {i for i in by_id if i.startswith("E1:")} == {"E1:ACTI", "E1:DISO"} and "E1" not in by_id
    assert by_id["E1:DISO"].attributes == {"comment": "", "element": "Entity", "semantic_types": "T055|T033"}
    # two types of one group (T121|T109, both Chemicals & Drugs) give one entity
    assert by_id["E13"].label == "Chemicals & Drugs"
    assert by_id["E4"].origin.endswith("nota_0001.xml tag E4")


def test_keep_types_labels_with_type_names():
    (record,) = read_semclinbr(SEMCLINBR / "nota_0001.xml", ConversionReport(), keep_types=True)
    labels = {(record.text[e.start : e.end], e.label, e.id) for e in record.entities}
    assert ("tabagista", "Individual Behavior", "E1:T055") in labels
    assert ("tabagista", "Finding", "E1:T033") in labels
    assert ("AAS", "Pharmacologic Substance", "E13:T121") in labels
    assert ("AAS", "Organic Chemical", "E13:T109") in labels
    assert ("dispneia", "Sign or Symptom", "E6") in labels


def test_mae2_spans_element_types_discontinuous_and_non_consuming_tags():
    report = ConversionReport()
    (record,) = read_semclinbr(SEMCLINBR / "nota_0002.xml", report)
    (doc_spans,) = spans([record], report, discontinuous="fragments")
    assert doc_spans == [
        ("cefaleia frontal", "Disorders"),  # <Sign_or_Symptom> without a tag attribute
        ("frontal", "Anatomy"),
        ("náuseas", "Disorders"),
        ("abdome", "Disorders"),
        ("indolor", "Disorders"),
        ("hemograma", "Procedures"),
        ("TC de crânio", "Procedures"),
        ("crânio", "Anatomy"),
    ]
    s4 = next(e for e in record.entities if e.id == "S4")
    assert s4.fragments == ((55, 61), (71, 78))
    assert report.ignored_lines == {"non-consuming tags": 1}


def test_folder_reads_every_note_and_builds_stored_annotation():
    report = ConversionReport()
    records = list(read_semclinbr(SEMCLINBR, report))
    assert [r.doc_id for r in records] == ["nota_0001", "nota_0002"]
    docs = list(build_docs(blank_pt(), records, report))
    assert report.docs == 2 and report.entities == 26  # the discontinuous S4 is one entity
    assert report.entities_per_label["Disorders"] == 9
    assert entity_attributes(docs[0])["E7:PHEN"]["attributes"]["semantic_types"] == "T201|T034"


# ---- bad input -----------------------------------------------------------------------------------------


def test_unknown_type_strict_error_names_file_and_tag(tmp_path):
    path = xml_file(tmp_path, tag("T1", 16, 32, "T184") + "\n" + tag("T2", 35, 40, "T184|T999"))
    with pytest.raises(ConversionError, match=r"nota\.xml tag T2: unknown UMLS semantic type 'T999'"):
        list(read_semclinbr(path, ConversionReport()))


def test_unknown_type_lenient_drops_only_that_type(tmp_path):
    path = xml_file(
        tmp_path, tag("T1", 16, 32, "T184") + "\n" + tag("T2", 35, 40, "T184|T999") + "\n" + tag("T3", 52, 58, "xyz")
    )
    report = ConversionReport(lenient=True)
    assert spans(read_semclinbr(path, report), report) == [[("cefaleia intensa", "Disorders"), ("febre", "Disorders")]]
    assert [d["where"] for d in report.dropped] == [f"{path} tag T2", f"{path} tag T3"]


@pytest.mark.parametrize(
    "tag_line, problem",
    [
        (tag("T1", 60, 90, "T184"), "offsets 60-90 beyond the text"),
        (tag("T1", 20, 20, "T184"), "start 20 is not before end 20"),
        (tag("T1", 30, 16, "T184"), "start 30 is not before end 16"),
        (tag("T1", "a", 20, "T184"), "offsets are not integers: 'a'-'20'"),
        (tag("T1", 16, 24, ""), "empty or null label"),
        (tag("T1", 16, 24, "null"), "empty or null label"),
        ('<Entity id="T1" start="16" end="24" />', "no tag attribute"),
        ('<Entity id="T1" tag="T184" />', "no start/end offsets"),
        (tag("T1", 16, 24, "T184", text="tosse"), "text attribute 'tosse' does not match the text at 16-24"),
        (tag("T1", 16, 24, "T184") + "\n" + tag("T1", 35, 40, "T184"), "the tag id is used twice"),
    ],
)
def test_bad_tags_are_strict_errors_naming_file_and_tag(tmp_path, tag_line, problem):
    path = xml_file(tmp_path, tag_line)
    with pytest.raises(ConversionError) as caught:
        list(read_semclinbr(path, ConversionReport()))
    assert str(caught.value).startswith(f"{path} tag T1: ")
    assert problem in str(caught.value)
    report = ConversionReport(lenient=True)
    list(read_semclinbr(path, report))
    assert any(problem in d["problem"] for d in report.dropped)


def test_text_mismatch_is_repaired_to_the_nearest_occurrence_in_lenient_mode(tmp_path):
    text = "Febre alta. Nega febre hoje. Febre ontem."
    tags = tag("T1", 16, 21, "T184", text="febre") + "\n" + tag("T2", 0, 5, "T184", text="tosse")
    path = xml_file(tmp_path, tags, text)
    report = ConversionReport(lenient=True)
    (record,) = read_semclinbr(path, report)
    assert [(e.id, e.start, e.end) for e in record.entities] == [("T1", 17, 22)]
    assert "moved to 17-22" in report.repaired[0]["problem"]
    assert report.dropped[0]["where"] == f"{path} tag T2" and "occurs nowhere" in report.dropped[0]["problem"]


def test_text_attribute_compares_whitespace_as_xml_normalizes_it(tmp_path):
    path = xml_file(tmp_path, tag("T1", 35, 67, "T184", text="febre.  Ao exame: rigidez de nuca"))
    (record,) = read_semclinbr(path, ConversionReport())
    assert record.text[35:67] == "febre.\nAo exame: rigidez de nuca"


def test_malformed_xml_missing_text_missing_path_and_empty_file(tmp_path):
    broken = tmp_path / "broken.xml"
    broken.write_text('<SemClinBr>\n<TEXT>nota</TEXT>\n<TAGS><Entity id="T1" </TAGS>\n</SemClinBr>', encoding="utf8")
    with pytest.raises(ConversionError, match=r"broken\.xml line 3: not well-formed XML"):
        list(read_semclinbr(broken, ConversionReport()))
    no_text = tmp_path / "no_text.xml"
    no_text.write_text("<SemClinBr><TAGS/></SemClinBr>", encoding="utf8")
    with pytest.raises(ConversionError, match=r"no_text\.xml: no <TEXT> element"):
        list(read_semclinbr(no_text, ConversionReport()))
    with pytest.raises(ConversionError, match="no such file or folder"):
        list(read_semclinbr(tmp_path / "absent", ConversionReport()))
    empty = tmp_path / "empty.xml"
    empty.write_bytes(b"")
    report = ConversionReport(lenient=True)
    good = xml_file(tmp_path, tag("T1", 35, 40, "T184"), name="good.xml")
    assert [r.doc_id for r in read_semclinbr(tmp_path, report)] == ["good"]
    assert [e["where"] for e in report.errors] == [str(broken) + " line 3", str(empty), str(no_text)]
    assert good.name == "good.xml"


def test_crlf_offsets_counting_both_characters_keep_the_raw_text(tmp_path):
    text = NOTE.replace("\n", "\r\n")
    start = text.index("rigidez")
    path = xml_file(tmp_path, tag("T1", start, start + 15, "T184", text="rigidez de nuca"), text)
    (record,) = read_semclinbr(path, ConversionReport())
    assert "\r\n" in record.text and record.text[start : start + 15] == "rigidez de nuca"


def test_crlf_offsets_counting_one_character_use_lf_text_and_say_so(tmp_path):
    start = NOTE.index("rigidez")
    path = xml_file(tmp_path, tag("T1", start, start + 15, "T184", text="rigidez de nuca"), NOTE.replace("\n", "\r\n"))
    report = ConversionReport()
    (record,) = read_semclinbr(path, report)
    assert record.text == NOTE
    assert any("LF line ends" in n for n in report.notes)


def test_latin1_declared_cp1252_mislabelled_and_bom_files(tmp_path):
    line = tag("T1", 16, 32, "T184", text="cefaleia intensa")
    declared = xml_file(
        tmp_path, line, name="latin.xml", encoding="latin-1", head='<?xml version="1.0" encoding="ISO-8859-1"?>\n'
    )
    accented = NOTE.replace("febre", "febre à noite")
    mislabelled = xml_file(tmp_path, line, text=accented, name="cp.xml", encoding="cp1252")
    bom = xml_file(tmp_path, line, name="bom.xml", head=codecs.BOM_UTF8.decode("utf8"))
    for path, needle in ((declared, "ISO-8859-1"), (mislabelled, "decoded as cp1252"), (bom, "byte-order mark")):
        report = ConversionReport()
        (record,) = read_semclinbr(path, report)
        assert record.text[16:32] == "cefaleia intensa" and "Paciente" in record.text
        assert any(needle in n for n in report.notes), report.notes
    assert "à noite" in next(read_semclinbr(mislabelled, ConversionReport())).text


def test_mixed_encodings_strict_error_names_file_and_line(tmp_path):
    path = xml_file(tmp_path, tag("T1", 0, 8, "T184"), text="Cefaléia intensa.\nAo exame: rigidez de nuca.")
    path.write_bytes(path.read_bytes().replace(b"<TAGS>", "<!-- revisão -->\n<TAGS>".encode("cp1252")))
    with pytest.raises(ConversionError, match=r"nota\.xml line 5: mixed encodings"):
        list(read_semclinbr(path, ConversionReport()))
    (record,) = read_semclinbr(path, ConversionReport(lenient=True))
    assert record.text.startswith("Cefaléia")


def test_same_stem_in_two_folders_is_an_error(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    xml_file(tmp_path / "a", tag("T1", 35, 40, "T184"))
    xml_file(tmp_path / "b", tag("T1", 35, 40, "T184"))
    with pytest.raises(ConversionError, match="already read from"):
        list(read_semclinbr(tmp_path, ConversionReport()))


# ---- every tag is read: several <TAGS> blocks, tags nested at any depth --------------------------------


def test_every_tags_block_is_read(tmp_path):
    path = xml_file(tmp_path, tag("T1", 16, 24, "T184") + "\n</TAGS>\n<TAGS>\n" + tag("T2", 35, 40, "T184"))
    report = ConversionReport()
    (record,) = read_semclinbr(path, report)
    assert [(e.id, record.text[e.start : e.end]) for e in record.entities] == [("T1", "cefaleia"), ("T2", "febre")]


def test_tags_nested_in_child_elements_are_read(tmp_path):
    tags = (
        '<Disorders version="2">\n'
        + tag("T1", 16, 32, "T184")
        + "\n<group>"
        + tag("T2", 35, 40, "T184")
        + "</group>\n</Disorders>\n"
        + f'<Entity id="T3" start="52" end="67" tag="T184">{tag("T4", 63, 67, "T029")}</Entity>'
    )
    report = ConversionReport()
    (record,) = read_semclinbr(xml_file(tmp_path, tags), report)
    assert [(e.id, record.text[e.start : e.end]) for e in record.entities] == [
        ("T1", "cefaleia intensa"),
        ("T2", "febre"),
        ("T3", "rigidez de nuca"),
        ("T4", "nuca"),
    ]
    assert report.dropped == [] and report.errors == []


def test_deeply_nested_tag_is_read(tmp_path):
    depth = 5000
    path = xml_file(tmp_path, "<g>" * depth + tag("T1", 35, 40, "T184") + "</g>" * depth)
    (record,) = read_semclinbr(path, ConversionReport())
    assert [e.id for e in record.entities] == ["T1"]


def test_a_tag_outside_tags_and_markup_inside_text_are_reported(tmp_path):
    path = tmp_path / "nota.xml"
    path.write_text(
        f"<SemClinBr>\n<TEXT>Paciente refere <b>cefaleia</b> e febre.</TEXT>\n"
        f"<TAGS>\n{tag('T1', 16, 24, 'T184')}\n</TAGS>\n{tag('T2', 27, 32, 'T184')}\n</SemClinBr>\n",
        encoding="utf8",
    )
    with pytest.raises(ConversionError, match=r"nota\.xml <TEXT>: 1 element\(s\) inside <TEXT>"):
        list(read_semclinbr(path, ConversionReport()))
    report = ConversionReport(lenient=True)
    (record,) = read_semclinbr(path, report)
    assert record.text == "Paciente refere cefaleia e febre."
    assert [(e.id, record.text[e.start : e.end]) for e in record.entities] == [("T1", "cefaleia")]
    assert report.dropped == [
        {"where": f"{path} <TEXT>", "problem": "1 element(s) inside <TEXT> (<b>) are not read; tags belong in <TAGS>"},
        {"where": f"{path} tag T2", "problem": "a tag outside <TAGS>, not read"},
    ]


def test_several_text_elements_are_an_error(tmp_path):
    path = xml_file(tmp_path, tag("T1", 35, 40, "T184"))
    path.write_bytes(path.read_bytes().replace(b"<TAGS>", b"<TEXT>outra nota</TEXT>\n<TAGS>"))
    with pytest.raises(ConversionError, match=r"nota\.xml: 2 <TEXT> elements; the offsets cannot be placed"):
        list(read_semclinbr(path, ConversionReport()))


# ---- offsets: ASCII digits only ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "start, problem",
    [
        ("1_6", "offsets are not integers: '1_6'-'24'"),  # int() reads "1_6" as 16
        ("\u0661\u0666", "offsets are not integers"),  # Arabic-Indic digits
        ("9" * 5000, "offsets out of range"),  # int() refuses more than 4,300 digits
        (str(2**63), "offsets out of range"),
    ],
)
def test_offsets_that_int_would_read_or_refuse_are_reported(tmp_path, start, problem):
    path = xml_file(tmp_path, tag("T1", start, 24, "T184"))
    with pytest.raises(ConversionError) as caught:
        list(read_semclinbr(path, ConversionReport()))
    assert str(caught.value).startswith(f"{path} tag T1: {problem}") and len(str(caught.value)) < 300


# ---- files that cannot be decoded or parsed: lenient mode reports them and goes on ---------------------

HEAD = '<?xml version="1.0" encoding="{}"?>\n'


@pytest.mark.parametrize(
    "head, data, problem",
    [
        (HEAD.format("klingon-8"), None, "XML declaration names an encoding that cannot be used: unknown encoding"),
        (HEAD.format("rot13"), None, "XML declaration names an encoding that cannot be used: 'rot13' is not a"),
        (None, codecs.BOM_UTF16_LE + "<a>".encode("utf-16-le") + b"\x00\xd8", "not valid utf-16-le"),
        ('<!DOCTYPE x [<!ENTITY a "febre">]>\n', None, "entity declarations are refused"),
    ],
)
def test_unreadable_file_strict_error_lenient_report_and_the_other_files_are_read(tmp_path, head, data, problem):
    good = xml_file(tmp_path, tag("T1", 35, 40, "T184"), name="good.xml")
    bad = xml_file(tmp_path, tag("T1", 35, 40, "T184"), name="bad.xml", head=head)
    if data is not None:
        bad.write_bytes(data)
    with pytest.raises(ConversionError) as caught:
        list(read_semclinbr(tmp_path, ConversionReport()))
    assert str(caught.value).startswith(str(bad)) and problem in str(caught.value)
    report = ConversionReport(lenient=True)
    assert [r.doc_id for r in read_semclinbr(tmp_path, report)] == [good.stem]
    (error,) = report.errors
    assert error["where"].startswith(str(bad)) and problem in error["problem"]


def test_entity_expansion_bomb_is_refused(tmp_path):
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + n)} "{("&" + chr(97 + n) + ";") * 10}">' for n in range(8)
    )
    path = xml_file(tmp_path, tag("T1", 35, 40, "T184"), head=f"<!DOCTYPE SemClinBr [{entities}]>\n")
    path.write_bytes(path.read_bytes().replace(b"<TAGS>", b"<note>&i;</note>\n<TAGS>"))
    with pytest.raises(ConversionError, match=r"nota\.xml: .*entity declarations are refused"):
        list(read_semclinbr(path, ConversionReport()))
