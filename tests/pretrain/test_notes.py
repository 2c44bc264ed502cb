"""`notes`: the texts of notes of every input kind collected into JSONL lines `{"text": ...}` for `spacy pretrain`,
duplicates and empty notes counted, bad input an `error:` naming the file and line."""

import json
from pathlib import Path

import pytest
from spacy.tokens import DocBin

from helpers import assert_clean_error, invoke
from helpers.clinical_notes import NOTES, note_records
from spacy_clinical_pt.corpus import ConversionError, ConversionReport, build_docs
from spacy_clinical_pt.notes import collect_notes
from spacy_clinical_pt.tokenizer import clinical_nlp


def written(path: Path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf8").splitlines()]


@pytest.fixture
def notes_folder(tmp_path) -> Path:
    """A user's notes: nested folders, a cp1252 file, a duplicate, an empty note, a hidden file and a PDF."""
    folder = tmp_path / "notas"
    (folder / "2024" / "março").mkdir(parents=True)
    (folder / "a.txt").write_text("Paciente refere dor no peito.\r\n", encoding="utf8")
    (folder / "2024" / "b.txt").write_bytes("Febre há dois dias.".encode("cp1252"))
    (folder / "2024" / "março" / "c.txt").write_text("Paciente refere dor no peito.\r\n", encoding="utf8")
    (folder / "vazia.txt").write_text(" \n", encoding="utf8")
    (folder / ".rascunho.txt").write_text("Nota oculta.", encoding="utf8")
    (folder / "exame.pdf").write_bytes(b"%PDF-1.4")
    return folder


def test_a_folder_of_notes_recursively_decoded_with_duplicates_and_empty_counted(notes_folder, tmp_path):
    summary = collect_notes([notes_folder], tmp_path / "notes.jsonl")

    # Read in path order: 2024/b.txt (cp1252), 2024/março/c.txt, then a.txt, a duplicate of c.txt.
    assert written(tmp_path / "notes.jsonl") == ["Febre há dois dias.", "Paciente refere dor no peito.\r\n"]
    assert summary.read == {str(notes_folder): 4}
    assert (summary.duplicates, summary.empty, summary.written) == (1, 1, 2)
    assert summary.characters == len("Febre há dois dias.") + len("Paciente refere dor no peito.\r\n")
    assert summary.ignored == {".pdf": 1}


def test_a_brat_folder_gives_its_txt_notes(tmp_path):
    brat = tmp_path / "brat"
    brat.mkdir()
    (brat / "n1.txt").write_text("Edema em membro inferior.", encoding="utf8")
    (brat / "n1.ann").write_text("T1\tProblema 0 5\tEdema\n", encoding="utf8")
    (brat / "annotation.conf").write_text("[entities]\nProblema\n", encoding="utf8")

    summary = collect_notes([brat], tmp_path / "notes.jsonl")

    assert written(tmp_path / "notes.jsonl") == ["Edema em membro inferior."]
    assert summary.ignored == {".ann": 1, ".conf": 1}


def test_json_and_jsonl_records_give_their_text_and_ignore_annotations(tmp_path):
    records = [{"doc_id": 1, "text": "Nega febre.", "annotations": [{"begin": 5, "end": 10, "label": "Problema"}]},
               {"doc_id": 2, "text": "", "annotations": []}]
    (tmp_path / "er.json").write_text(json.dumps(records), encoding="utf8")
    (tmp_path / "notas.jsonl").write_text('{"text": "Tosse seca."}\n\n{"text": "Nega febre."}\n', encoding="utf8")

    summary = collect_notes([tmp_path / "er.json", tmp_path / "notas.jsonl"], tmp_path / "notes.jsonl")

    assert written(tmp_path / "notes.jsonl") == ["Nega febre.", "Tosse seca."]
    assert summary.read == {str(tmp_path / "er.json"): 2, str(tmp_path / "notas.jsonl"): 2}
    assert (summary.duplicates, summary.empty) == (1, 1)


def test_conll_documents_give_the_text_the_converter_rebuilds(tmp_path):
    conll = tmp_path / "clinpt.conll"
    conll.write_bytes("-DOCSTART- O\n\nDor B-Sintoma\ntorácica I-Sintoma\n\nNega O\n\n-DOCSTART- O\n\nFebre B-Sintoma\n"
                      .encode("cp1252"))

    collect_notes([conll], tmp_path / "notes.jsonl")

    assert written(tmp_path / "notes.jsonl") == ["Dor torácica\nNega", "Febre"]


def test_a_docbin_gives_the_texts_of_its_docs(tmp_path):
    docs = build_docs(clinical_nlp(), note_records(), ConversionReport())
    DocBin(docs=list(docs)).to_disk(tmp_path / "train.spacy")

    summary = collect_notes([tmp_path / "train.spacy"], tmp_path / "notes.jsonl")

    assert written(tmp_path / "notes.jsonl") == [text for text, _ in NOTES]
    assert summary.written == len(NOTES)


def test_a_bad_jsonl_line_names_file_and_line_and_writes_nothing(tmp_path):
    (tmp_path / "notas.jsonl").write_text('{"text": "Tosse seca."}\n{"texto": "Dor."}\n', encoding="utf8")

    with pytest.raises(ConversionError, match=r"notas\.jsonl:line 2: the 'text' field must be a string \(missing\)"):
        collect_notes([tmp_path / "notas.jsonl"], tmp_path / "notes.jsonl")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notas.jsonl"]


def test_only_empty_notes_is_an_error(tmp_path):
    (tmp_path / "vazia.txt").write_text("\n", encoding="utf8")

    with pytest.raises(ConversionError, match="no notes to write: 1 read, 0 duplicates, 1 empty"):
        collect_notes([tmp_path / "vazia.txt"], tmp_path / "notes.jsonl")
    assert not (tmp_path / "notes.jsonl").exists()


def test_cli_prints_the_counts_and_no_note_text(notes_folder, tmp_path):
    result = invoke("notes", notes_folder, "--output", tmp_path / "notes.jsonl")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"read 4 notes from {notes_folder}",
        "dropped 1 duplicates and 1 empty notes",
        "ignored 1 files that are no notes (.pdf 1)",
        "kept 2 notes, 50 characters",
        f"wrote {tmp_path / 'notes.jsonl'}",
    ]


def test_cli_refuses_to_overwrite_without_overwrite(notes_folder, tmp_path):
    output = tmp_path / "notes.jsonl"
    output.write_text("{}\n", encoding="utf8")

    assert_clean_error(invoke("notes", notes_folder, "-o", output), output, "--overwrite")
    assert output.read_text(encoding="utf8") == "{}\n"
    assert invoke("notes", notes_folder, "-o", output, "--overwrite").exit_code == 0
    assert len(written(output)) == 2


@pytest.mark.parametrize("make, bad", [
    (lambda tmp: tmp / "absent", "absent: no such file or folder"),
    (lambda tmp: (tmp / "n.jsonl").write_text('{"text": "Dor."}\n[1]\n') and tmp / "n.jsonl", "n.jsonl:line 2"),
    (lambda tmp: (tmp / "x.spacy").write_text("Dor no peito.") and tmp / "x.spacy", "x.spacy: not a spaCy DocBin"),
    (lambda tmp: (tmp / "pasta").mkdir() or tmp / "pasta", "pasta: no notes in this folder"),
], ids=["missing", "bad-jsonl-line", "text-as-docbin", "empty-folder"])
def test_cli_bad_input_is_one_error_line_naming_it(make, bad, tmp_path):
    result = invoke("notes", make(tmp_path), "-o", tmp_path / "out" / "notes.jsonl")

    assert_clean_error(result, bad)
    assert not (tmp_path / "out" / "notes.jsonl").exists()


def test_cli_unknown_encoding(notes_folder, tmp_path):
    assert_clean_error(invoke("notes", notes_folder, "-o", tmp_path / "n.jsonl", "--encoding", "klingon"),
                       "unknown encoding 'klingon'")
