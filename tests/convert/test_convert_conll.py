"""CoNLL token-per-line files: IOB1, IOB2 with -DOCSTART-, IOBES from a latin-1 file, BILOU; repairs and bad input."""

import codecs
from collections import Counter
from functools import lru_cache

import pytest
import spacy

from helpers import FIXTURES, corpus_path
from spacy_clinical_pt.convert.conll import decode_tags, detect_scheme, read_conll, split_tag
from spacy_clinical_pt.corpus import ConversionError, ConversionReport, build_docs

CONLL = FIXTURES / "conll"


@lru_cache(maxsize=1)
def blank_pt():
    return spacy.blank("pt")


def spans(records, report=None):
    """{doc_id: [(text, label)]} with the spans that `build_docs` makes."""
    records = list(records)
    docs = build_docs(blank_pt(), records, report or ConversionReport())
    return {r.doc_id: [(s.text, s.label_) for s in doc.spans["sc"]] for r, doc in zip(records, docs)}


def conll_file(tmp_path, content: str, name="notas.conll", encoding="utf8"):
    path = tmp_path / name
    path.write_bytes(content.encode(encoding))
    return path


# ---- the fixtures --------------------------------------------------------------------------------------


def test_iobes_from_a_latin1_file_is_converted_and_noted():
    path = CONLL / "clinpt_iobes_latin1.conll"
    assert b"insufici\xeancia" in path.read_bytes()  # really latin-1 on disk
    report = ConversionReport()
    (record,) = read_conll(path, report)
    assert record.text.split("\n") == [
        "Doente de 72 anos , com insuficiência cardíaca descompensada .",
        "Iniciou furosemida endovenosa e ecocardiograma .",
        "Refere dor no hipocôndrio direito .",
    ]
    assert spans([record], report) == {
        "clinpt_iobes_latin1": [
            ("insuficiência cardíaca descompensada", "Problema"),
            ("furosemida", "Medicamento"),
            ("ecocardiograma", "Procedimento"),
            ("dor no hipocôndrio direito", "Problema"),
        ]
    }
    assert any("decoded as cp1252" in n for n in report.notes)
    assert any("detected as IOBES" in n for n in report.notes)
    assert report.repaired == [] and report.dropped == []


def test_iob1_uses_b_only_between_adjacent_entities_of_one_type():
    report = ConversionReport()
    assert spans(read_conll(CONLL / "iob1.conll", report), report) == {
        "iob1": [
            ("dispneia", "Disorders"),
            ("tosse produtiva", "Disorders"),
            ("febre", "Disorders"),
            ("dor", "Disorders"),
            ("hemitórax direito", "Anatomy"),
            ("AAS", "Chemicals"),
        ]
    }
    assert any("detected as IOB1" in n for n in report.notes)
    assert report.repaired == []


def test_iob2_with_docstart_gives_one_record_per_document_and_ignores_middle_columns():
    report = ConversionReport()
    records = list(read_conll(CONLL / "iob2_docstart.conll", report))
    assert [r.doc_id for r in records] == ["iob2_docstart-1", "iob2_docstart-2"]
    assert records[1].text == "Ausculta pulmonar com estertores crepitantes em bases .\nSem febre ."
    assert spans(records, report) == {
        "iob2_docstart-1": [("hipertenso", "Disorders"), ("losartana 50 mg", "Chemicals")],
        "iob2_docstart-2": [
            ("Ausculta pulmonar", "Procedures"),
            ("estertores crepitantes", "Disorders"),
            ("bases", "Anatomy"),
            ("febre", "Disorders"),
        ],
    }
    assert any("detected as IOB2" in n for n in report.notes)
    febre = records[1].entities[-1]
    assert records[1].text[febre.start : febre.end] == "febre" and febre.origin.endswith("iob2_docstart.conll:25")


def test_bilou_tab_separated():
    report = ConversionReport()
    assert spans(read_conll(CONLL / "bilou.tsv", report), report) == {
        "bilou": [("Tomografia de crânio", "Procedimento"), ("paracetamol", "Medicamento"), ("febre", "Problema")]
    }
    assert any("detected as IOBES" in n for n in report.notes)


def test_folder_reads_every_conll_file_and_skips_others(tmp_path):
    for fixture in CONLL.iterdir():
        (tmp_path / fixture.name).write_bytes(fixture.read_bytes())
    (tmp_path / "README.md").write_text("# not a CoNLL file\n", encoding="utf8")
    report = ConversionReport()
    records = list(read_conll(tmp_path, report))
    assert [r.doc_id for r in records] == ["bilou", "clinpt_iobes_latin1", "iob1", "iob2_docstart-1", "iob2_docstart-2"]
    assert sum(len(r.entities) for r in records) == 19
    assert f"{tmp_path}: tag scheme detected as IOBES in 2 file(s)" in report.notes


# ---- schemes -------------------------------------------------------------------------------------------


def tags(*names):
    return [split_tag(name) for name in names]


def test_split_tag_forms():
    assert split_tag("O") == (None, None)
    assert split_tag("B-Anatomy") == ("B", "Anatomy")
    assert split_tag("L-Anatomy") == ("E", "Anatomy") and split_tag("U-Anatomy") == ("S", "Anatomy")
    assert split_tag("Anatomy-I") == ("I", "Anatomy")
    assert split_tag("I-Chemicals & Drugs") == ("I", "Chemicals & Drugs")
    for bad in ("B-", "X-Anatomy", "Anatomy", "o"):
        with pytest.raises(ValueError):
            split_tag(bad)


def test_detect_scheme():
    assert detect_scheme([tags("O", "B-X", "I-X", "O")]) == "IOB2"
    assert detect_scheme([tags("I-X", "I-X", "B-X", "O", "I-Y")]) == "IOB1"
    assert detect_scheme([tags("O", "I-X")]) == "IOB1"  # an IO file
    assert detect_scheme([tags("I-X", "O", "B-Y")]) == "IOB2"  # B- after O is not IOB1: IOB2 with a repair
    assert detect_scheme([tags("O", "B-X", "E-X")]) == "IOBES"
    assert detect_scheme([tags("U-X")]) == "IOBES"
    assert detect_scheme([]) == "IOB2"


def test_decode_iob2_repairs_i_after_o():
    chunks, repairs = decode_tags(tags("O", "I-X", "I-X", "B-Y", "I-X"), "BIO")
    assert chunks == [(1, 3, "X"), (3, 4, "Y"), (4, 5, "X")]
    assert repairs == [(1, "I-X after O starts a new entity (IOB2)"), (4, "I-X after B-Y starts a new entity (IOB2)")]


def test_decode_iob1_splits_on_b():
    chunks, repairs = decode_tags(tags("I-X", "I-X", "B-X", "O", "I-Y"), "IOB1")
    assert chunks == [(0, 2, "X"), (2, 3, "X"), (4, 5, "Y")] and repairs == []


def test_decode_iobes_repairs():
    chunks, repairs = decode_tags(tags("B-X", "I-X", "E-X", "S-Y", "E-X", "B-X", "O", "B-Y", "I-Y"), "BILOU")
    assert chunks == [(0, 3, "X"), (3, 4, "Y"), (4, 5, "X"), (5, 6, "X"), (7, 9, "Y")]
    assert [index for index, _ in repairs] == [4, 5, 8]
    assert repairs[0][1] == "E-X after S-Y without B-X: a one-token entity"
    assert "X entity not closed by E-/S- (followed by O)" in repairs[1][1]
    assert "(at sentence end)" in repairs[2][1]


def test_unknown_scheme_name():
    with pytest.raises(ValueError, match="unknown tag scheme 'BIOX'"):
        list(read_conll(CONLL / "iob1.conll", ConversionReport(), scheme="BIOX"))


def test_given_scheme_overrides_detection_and_repairs_are_listed_with_file_and_line():
    report = ConversionReport()
    records = list(read_conll(CONLL / "iob1.conll", report, scheme="iob2"))
    assert len(records[0].entities) == 6  # same entities, every I- that begins one is a repair in IOB2
    path = CONLL / "iob1.conll"
    assert [r["where"] for r in report.repaired] == [f"{path}:{n}" for n in (3, 5, 9, 11, 18)]
    assert not any("detected" in n for n in report.notes)


# ---- bad input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, problem",
    [
        ("dispneia", "no tag column"),
        ("dispneia X-Disorders", "has no B-/I-/E-/S-/L-/U- prefix"),
        ("dispneia Disorders", "has no B-/I-/E-/S-/L-/U- prefix"),
        ("dispneia B-", "empty label"),
        ("\tB-Disorders", "empty token"),
    ],
)
def test_malformed_line_is_a_strict_error_naming_file_and_line(tmp_path, line, problem):
    path = conll_file(tmp_path, f"Paciente O\ncom O\n{line}\n. O\n")
    with pytest.raises(ConversionError) as caught:
        list(read_conll(path, ConversionReport()))
    assert str(caught.value).startswith(f"{path}:3: malformed line") and problem in str(caught.value)
    report = ConversionReport(lenient=True)
    (record,) = read_conll(path, report)
    assert record.entities == []
    assert [d["where"] for d in report.dropped] == [f"{path}:3"]
    if "token" not in problem:
        assert record.text == "Paciente com dispneia ."  # the token is kept, as O


def test_repaired_sequences_name_file_and_line(tmp_path):
    path = conll_file(tmp_path, "Paciente O\ncom O\nfebre B-Disorders\n\nsem O\ntosse I-Disorders\n")
    report = ConversionReport()
    (record,) = read_conll(path, report)
    assert [record.text[e.start : e.end] for e in record.entities] == ["febre", "tosse"]
    assert report.repaired == [{"where": f"{path}:6", "problem": "I-Disorders after O starts a new entity (IOB2)"}]


def test_entities_end_at_sentence_boundaries(tmp_path):
    path = conll_file(tmp_path, "dor B-X\ntorácica I-X\n\nintensa I-X\n")
    (record,) = read_conll(path, ConversionReport(), scheme="IOB1")
    assert [(e.start, e.end) for e in record.entities] == [(0, 12), (13, 20)]


def test_empty_missing_and_token_free_files(tmp_path):
    with pytest.raises(ConversionError, match="no such file or folder"):
        list(read_conll(tmp_path / "absent.conll", ConversionReport()))
    empty = conll_file(tmp_path, "\n\n", name="empty.conll")
    with pytest.raises(ConversionError, match=r"empty\.conll: the file is empty"):
        list(read_conll(empty, ConversionReport()))
    only_docstart = conll_file(tmp_path, "-DOCSTART- -X- -X- O\n\n", name="docstart.conll")
    with pytest.raises(ConversionError, match=r"docstart\.conll: no token lines"):
        list(read_conll(only_docstart, ConversionReport()))
    good = conll_file(tmp_path, "febre B-Disorders\n", name="good.conll")
    report = ConversionReport(lenient=True)
    assert [r.doc_id for r in read_conll(tmp_path, report)] == [good.stem]
    assert [e["where"] for e in report.errors] == [str(only_docstart), str(empty)]


def test_crlf_and_bom(tmp_path):
    content = "Paciente O\r\ncom O\r\nfebre B-Disorders\r\n\r\nSem O\r\ndispneia B-Disorders\r\n"
    path = tmp_path / "crlf.conll"
    path.write_bytes(codecs.BOM_UTF8 + content.encode("utf8"))
    report = ConversionReport()
    (record,) = read_conll(path, report)
    assert record.text == "Paciente com febre\nSem dispneia"
    assert spans([record]) == {"crlf": [("febre", "Disorders"), ("dispneia", "Disorders")]}
    assert any("byte-order mark" in n for n in report.notes)


def test_given_encoding_and_mixed_encodings(tmp_path):
    latin = conll_file(tmp_path, "Hipótese B-X\ndiagnóstica I-X\n", name="latin.conll", encoding="latin-1")
    report = ConversionReport()
    (record,) = read_conll(latin, report, encoding="latin-1")
    assert record.text == "Hipótese diagnóstica" and not any("decoded" in n for n in report.notes)
    with pytest.raises(ConversionError, match=r"latin\.conll line 1: not valid utf-8"):
        list(read_conll(latin, ConversionReport(), encoding="utf-8"))
    mixed = tmp_path / "mixed.conll"
    mixed.write_bytes("Evolução O\n".encode("utf8") + "Função B-X\n".encode("cp1252"))
    with pytest.raises(ConversionError, match=r"mixed\.conll line 2: mixed encodings"):
        list(read_conll(mixed, ConversionReport()))
    report = ConversionReport(lenient=True)
    (record,) = read_conll(mixed, report)
    assert record.text == "Evolução Função" and report.repaired[0]["where"] == f"{mixed} line 2"


# ---- columns split at spaces and tabs only; lines at \r\n, \r, \n only ----------------------------------


def test_unicode_spaces_and_separators_stay_inside_a_token(tmp_path):
    # str.split() also splits at the no-break space of "120\xa0mg" and at \x1c, \x85, U+2028...
    path = conll_file(tmp_path, "AAS B-M\n100\xa0mg I-M\ndor\x1ctorácica\x85\u2028 B-C\n")
    report = ConversionReport()
    (record,) = read_conll(path, report)
    assert record.text == "AAS 100\xa0mg dor\x1ctorácica\x85\u2028"
    assert [(record.text[e.start : e.end], e.label) for e in record.entities] == [
        ("AAS 100\xa0mg", "M"),
        ("dor\x1ctorácica\x85\u2028", "C"),
    ]
    assert report.dropped == [] and report.repaired == []


# ---- lenient mode goes on after a file that cannot be decoded -------------------------------------------


def test_undecodable_file_strict_error_lenient_report_and_the_other_files_are_read(tmp_path):
    good = conll_file(tmp_path, "febre B-Disorders\n", name="good.conll")
    bad = tmp_path / "bad.conll"
    bad.write_bytes(codecs.BOM_UTF16_LE + "febre B-X\n".encode("utf-16-le") + b"\x00\xd8")
    with pytest.raises(ConversionError, match=r"bad\.conll line 2: not valid utf-16-le \(byte offset 22\)"):
        list(read_conll(tmp_path, ConversionReport()))
    report = ConversionReport(lenient=True)
    assert [r.doc_id for r in read_conll(tmp_path, report)] == [good.stem]
    assert report.errors == [{"where": f"{bad} line 2", "problem": "not valid utf-16-le (byte offset 22)"}]


def test_cp1252_export_with_mojibake_in_the_lemma_column_is_read_as_cp1252(tmp_path):
    lines = (
        "Há\tv-fin\thaver\tB-DT\n"
        "dois\tnum\tdois\tI-DT\n"
        "meses\tn\tmÃªs\tI-DT\n"
        "iniciou\tv-fin\tiniciar\tO\n"
        "cefaleia\tn\tcefaleia\tB-C\n"
        "holocraniana\tadj\tholocraniano\tI-C\n"
        "com\tprp\tcom\tO\n"
        "fotofobia\tn\tfotofobia\tB-C\n"
        "e\tconj-c\te\tO\n"
        "náuseas\tn\tnáusea\tB-C\n"
        "e\tconj-c\te\tO\n"
        "visão\tn\tvisão\tB-C\n"
        "turva\tadj\tturvo\tI-C\n"
        ".\tpunc\t.\tO\n"
    )
    path = conll_file(tmp_path, lines, name="caso.conll", encoding="cp1252")
    report = ConversionReport()
    (record,) = read_conll(path, report)
    assert record.text == "Há dois meses iniciou cefaleia holocraniana com fotofobia e náuseas e visão turva ."
    assert [record.text[e.start : e.end] for e in record.entities] == [
        "Há dois meses", "cefaleia holocraniana", "fotofobia", "náuseas", "visão turva",
    ]  # fmt: skip
    assert any("decoded as cp1252 as a whole" in n and "line 3: 'mÃªs'" in n for n in report.notes)


def test_clinpt_cp1252_files_with_mojibake_convert_in_strict_mode():
    folder = corpus_path("clinpt", "conll")
    report = ConversionReport()
    records = list(read_conll(folder, report))
    labels = Counter(e.label for r in records for e in r.entities)
    # the counts of SOURCE.md: one entity per B- tag, no repairs
    assert len(records) == 176 and sum(labels.values()) == 9647
    assert labels["C"] == 2396 and labels["G"] == 43 and len(labels) == 13
    assert report.repaired == [] and report.dropped == [] and report.errors == []
    assert sum("decoded as cp1252" in n for n in report.notes) == 176
    assert sum("mojibake" in n for n in report.notes) == 63
