"""Corpus statistics on hand-built documents whose numbers are known."""

import json
import re

import pytest
import spacy
import typer
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_clinical_pt.corpus import ConversionReport, Entity, Record, build_docs
from spacy_clinical_pt.cli.stats import stats_command
from spacy_clinical_pt.stats import corpus_stats, doc_entities, format_stats, read_docs

# Tokens: Dor(0) no(1) braço(2) esquerdo(3) e(4) febre(5) alta(6) .(7) Edema(8) em(9) MMII(10) e(11) abdome(12) .(13)
TEXT = "Dor no braço esquerdo e febre alta. Edema em MMII e abdome."


def at(text: str, piece: str) -> tuple[int, int]:
    """Character offsets of the first occurrence of `piece` as whole words ("em" is not the one in "Edema")."""
    match = re.search(rf"\b{re.escape(piece)}\b", text)
    return match.start(), match.end()


def entity(id_: str, label: str, piece: str) -> Entity:
    start, end = at(TEXT, piece)
    return Entity(start, end, label, id=id_)


def records() -> list[Record]:
    edema, mmii = at(TEXT, "Edema"), at(TEXT, "MMII")
    first = Record(
        "note-1",
        TEXT,
        [
            entity("T1", "Problema", "Dor no braço esquerdo"),
            entity("T2", "Anatomia", "braço esquerdo"),  # nested in T1
            entity("T3", "Anatomia", "braço"),  # nested in T1 and in T2
            entity("T4", "Problema", "febre alta"),
            entity("T5", "Teste", "e febre"),  # partial overlap with T4
            # discontinuous "Edema ... MMII": covers "em" only in covering mode
            Entity(edema[0], mmii[1], "Problema", fragments=(edema, mmii), id="T6"),
            entity("T7", "Anatomia", "MMII"),  # inside T6 either way
            entity("T8", "Anatomia", "em"),  # in T6's gap
            entity("T9", "Tratamento", "abdome"),
            entity("T10", "Anatomia", "abdome"),  # same tokens as T9
        ],
    )
    empty = Record("note-2", "Sem queixas.", [])
    short = Record("note-3", "Febre.", [Entity(0, 5, "Problema", id="T1")])
    return [first, empty, short]


def build(discontinuous: str = "covering") -> list:
    report = ConversionReport()
    docs = list(build_docs(spacy.blank("pt"), records(), report, discontinuous=discontinuous))
    assert report.misaligned == 0  # the offsets above fall on token boundaries
    return docs


def test_per_label_counts_lengths_and_discontinuous():
    stats = corpus_stats(build("covering"))
    assert stats["documents"] == 3
    assert stats["documents_without_entities"] == 1
    assert stats["entities"] == 11
    assert stats["discontinuous"] == 1
    labels = stats["labels"]
    assert list(labels) == ["Anatomia", "Problema", "Teste", "Tratamento"]
    # Problema: T1 (4 tokens), T4 (2), T6 covering "Edema em MMII" (3), note-3 T1 (1)
    assert labels["Problema"] == {"entities": 4, "documents": 2, "mean_tokens": 2.5, "discontinuous": 1}
    assert labels["Anatomia"] == {
        "entities": 5, "documents": 1, "mean_tokens": pytest.approx(6 / 5), "discontinuous": 0
    }
    assert labels["Teste"] == {"entities": 1, "documents": 1, "mean_tokens": 2.0, "discontinuous": 0}
    assert labels["Tratamento"]["entities"] == 1


def test_nested_overlapping_and_same_extent_pairs():
    stats = corpus_stats(build("covering"))
    nested = stats["nested"]
    assert nested["pairs"] == 5  # T1>T2, T1>T3, T2>T3, T6>T7, T6>T8
    assert nested["same_label"] == 1 and nested["cross_label"] == 4
    assert {(r["outer"], r["inner"]): r["count"] for r in nested["by_labels"]} == {
        ("Problema", "Anatomia"): 4,
        ("Anatomia", "Anatomia"): 1,
    }
    overlapping = stats["overlapping"]
    assert overlapping["pairs"] == 1 and overlapping["cross_label"] == 1
    assert overlapping["by_labels"] == [{"label_a": "Problema", "label_b": "Teste", "count": 1}]
    same = stats["same_extent"]
    assert same["by_labels"] == [{"label_a": "Anatomia", "label_b": "Tratamento", "count": 1}]


def test_fragments_count_one_entity_and_leave_the_gap_out():
    stats = corpus_stats(build("fragments"))
    labels = stats["labels"]
    # T6 is two spans sharing one id: still one entity, one discontinuous, 2 tokens long
    assert labels["Problema"]["entities"] == 4
    assert labels["Problema"]["discontinuous"] == 1
    assert labels["Problema"]["mean_tokens"] == pytest.approx((4 + 2 + 2 + 1) / 4)
    assert stats["nested"]["pairs"] == 4  # "em" lies in T6's gap, so T6>T8 is gone
    assert stats["entities"] == 11


def test_doc_entities_groups_fragments_by_id():
    doc = build("fragments")[0]
    assert len(doc.spans["sc"]) == 11  # 10 entities, T6 as two fragments
    entities = {e.id: e for e in doc_entities(doc)}
    assert len(entities) == 10
    assert entities["T6"].tokens == frozenset({8, 10})
    assert entities["T6"].discontinuous and not entities["T1"].discontinuous


def test_wrong_spans_key_is_an_error_naming_the_keys():
    with pytest.raises(ValueError, match="'ents'.*'sc'"):
        corpus_stats(build(), spans_key="ents")


def test_table_lists_labels_and_pairs():
    table = format_stats(corpus_stats(build()))
    assert "3 documents (1 without entities)" in table
    assert "Problema > Anatomia" in table
    assert "Problema ~ Teste" in table
    assert "Anatomia = Tratamento" in table


def test_stats_command_reads_a_docbin_and_prints_json(tmp_path):
    path = tmp_path / "corpus.spacy"
    DocBin(store_user_data=True, docs=build("fragments")).to_disk(path)
    assert corpus_stats(read_docs(path)) == corpus_stats(build("fragments"))  # user data survives the file
    app = typer.Typer()
    app.command()(stats_command)
    result = CliRunner().invoke(app, [str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["labels"]["Problema"]["discontinuous"] == 1
    table = CliRunner().invoke(app, [str(path)])
    assert table.exit_code == 0 and "mean tokens" in table.output
    missing = CliRunner().invoke(app, [str(tmp_path / "absent.spacy")])
    assert missing.exit_code == 1 and "absent.spacy" in missing.output


# --- bad input: `error: <file>: ...`, exit 1, never a traceback ---------------------------------------------


def run_stats(*args):
    from spacy_clinical_pt.cli import app

    return CliRunner().invoke(app, ["stats", *map(str, args)], catch_exceptions=False)


def damaged_docbin(path, change) -> None:
    """A DocBin of `build()` whose msgpack content `change(content)` alters (what a damaged copy looks like)."""
    import zlib

    import srsly

    content = srsly.msgpack_loads(zlib.decompress(DocBin(store_user_data=True, docs=build()).to_bytes()))
    change(content)
    path.write_bytes(zlib.compress(srsly.msgpack_dumps(content)))


def test_a_damaged_docbin_names_the_file_and_the_document(tmp_path):
    from helpers import assert_clean_error

    path = tmp_path / "damaged.spacy"
    # Token counts of zero: the spans point past the end of each document (spaCy builds spans only when read).
    damaged_docbin(path, lambda content: content.update(lengths=bytes(len(content["lengths"]))))
    result = run_stats(path)
    assert_clean_error(result, path)
    assert "damaged.spacy: document 1: not a valid spaCy Doc, the DocBin is damaged (IndexError: [E035]" in result.stderr

    damaged_docbin(path, lambda content: content.update(span_groups=[b"\x00garbage"] * 3))
    result = run_stats(path)
    assert_clean_error(result, path)
    assert "document 1: not a valid spaCy Doc" in result.stderr


@pytest.mark.parametrize("content", [b"", b"Paciente com dor no peito.\n", b'{"text": "x", "spans": []}', "truncated"])
def test_a_file_that_is_not_a_docbin_names_the_file(tmp_path, content):
    """Already a clean error before: kept because `read_docs` now reads the bytes itself."""
    from helpers import assert_clean_error

    path = tmp_path / "corpus.spacy"
    if content == "truncated":
        whole = DocBin(store_user_data=True, docs=build()).to_bytes()
        content = whole[: len(whole) // 2]
    path.write_bytes(content)
    result = run_stats(path)
    assert_clean_error(result, path)
    assert f"{path}: not a spaCy DocBin file (ValueError: [E1014]" in result.stderr


def test_an_empty_docbin_a_folder_or_a_wrong_key_is_an_error_naming_the_file(tmp_path):
    from helpers import assert_clean_error

    empty = tmp_path / "empty.spacy"
    DocBin().to_disk(empty)
    result = run_stats(empty)  # was: a table of zeros, exit 0
    assert_clean_error(result, empty)
    assert f"{empty}: the DocBin holds no documents" in result.stderr

    result = run_stats(tmp_path)
    assert_clean_error(result, tmp_path)
    assert "is a folder, not a DocBin file" in result.stderr

    corpus = tmp_path / "corpus.spacy"
    DocBin(store_user_data=True, docs=build()).to_disk(corpus)
    result = run_stats(corpus, "--spans-key", "ents")
    assert_clean_error(result, corpus)
    assert f"{corpus}: no document has spans under key 'ents' (keys present: ['sc'])" in result.stderr
