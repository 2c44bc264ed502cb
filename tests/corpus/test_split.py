"""Train/dev/test splits: iterative stratification against random, quality figures, files written."""

import json

import numpy as np
import pytest
import spacy
import typer
from typer.testing import CliRunner

from spacy_clinical_pt.corpus import ConversionReport, Entity, Record, build_docs, doc_id
from spacy_clinical_pt.split import (
    examples_distribution,
    iterative_split,
    label_distribution,
    label_matrix,
    label_proportion_deviation,
    random_split,
    split_corpus,
    write_split,
)
from spacy_clinical_pt.cli.split import split_command
from spacy_clinical_pt.stats import read_docs

RATIOS = (0.6, 0.2, 0.2)
# Share of documents holding each label: one common, some rarer, one in 8% of the documents.
LABEL_SHARES = {"Problema": 0.5, "Teste": 0.3, "Tratamento": 0.15, "Anatomia": 0.08, "Procedimento": 0.25}


def presence_matrix(n_docs: int = 120, seed: int = 0) -> np.ndarray:
    rng = np.random.RandomState(seed)
    shares = np.array(list(LABEL_SHARES.values()))
    return (rng.rand(n_docs, len(shares)) < shares).astype(np.int64)


def make_docs(presence: np.ndarray, prefix: str = "note") -> list:
    """One short document per row, with one entity (two for even rows) of each label the row holds."""
    labels = list(LABEL_SHARES)
    records = []
    for i, row in enumerate(presence):
        words, entities = [], []
        for j in np.flatnonzero(row):
            for _ in range(1 + (i % 2 == 0)):
                start = len(" ".join(words)) + (1 if words else 0)
                words.append(f"achado{j}")
                entities.append(Entity(start, start + len(words[-1]), labels[j]))
        words.append("fim")
        records.append(Record(f"{prefix}-{i}", " ".join(words), entities))
    return list(build_docs(spacy.blank("pt"), records, ConversionReport()))


def assert_partition(parts, n_docs):
    joined = np.concatenate(parts)
    assert len(joined) == n_docs and set(joined.tolist()) == set(range(n_docs))


# --- quality figures, hand-computed -------------------------------------------------------------------


def test_label_distribution_formula():
    # label 0: 3 of 6 documents (ratio 1); subsets hold 2 of 3 (ratio 2) and 1 of 3 (ratio 0.5)
    presence = np.array([[1, 1], [1, 1], [0, 1], [0, 1], [1, 1], [0, 1]])
    subsets = [np.array([0, 1, 2]), np.array([3, 4, 5])]
    ld, undefined = label_distribution(presence, subsets)
    assert ld == pytest.approx((abs(2 - 1) + abs(0.5 - 1)) / 2)
    assert undefined == [1]  # label 1 is in every document: no negative example, no ratio
    assert label_proportion_deviation(presence, subsets) == pytest.approx(((1 / 6 + 1 / 6) / 2 + 0) / 2)
    assert examples_distribution(subsets, (0.6, 0.4)) == pytest.approx((0.6 + 0.6) / 2)


def test_a_perfect_split_has_zero_label_distribution():
    presence = np.array([[1], [0], [1], [0]])
    assert label_distribution(presence, [np.array([0, 1]), np.array([2, 3])])[0] == 0.0


# --- the splitters ------------------------------------------------------------------------------------


@pytest.mark.parametrize("ratios", [RATIOS, (0.8, 0.2), (0.7, 0.0, 0.3)])
def test_both_methods_partition_the_documents_at_the_asked_sizes(ratios):
    presence = presence_matrix()
    for parts in (iterative_split(presence, ratios, seed=3), random_split(len(presence), ratios, seed=3)):
        assert len(parts) == len(ratios)
        assert_partition(parts, len(presence))
        assert examples_distribution(parts, ratios) <= 2.0
    assert [len(p) for p in random_split(126, RATIOS, seed=1)] == [75, 25, 26]  # floor, test keeps the rest


def test_same_seed_same_split_other_seed_other_split():
    presence = presence_matrix()
    for split in (lambda s: iterative_split(presence, RATIOS, s), lambda s: random_split(len(presence), RATIOS, s)):
        first, again, other = split(7), split(7), split(8)
        assert all(np.array_equal(a, b) for a, b in zip(first, again))
        assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_iterative_leaves_the_global_numpy_random_state_alone():
    np.random.seed(123)
    expected = np.random.rand(3)
    np.random.seed(123)
    iterative_split(presence_matrix(), RATIOS, seed=5)
    assert np.array_equal(np.random.rand(3), expected)


def test_iterative_beats_random_on_label_distribution():
    """The reason for the whole module: averaged over seeds, stratified subsets keep the label balance."""
    for corpus_seed in (0, 1):
        presence = presence_matrix(seed=corpus_seed)
        seeds = range(1, 6)
        iterative = [label_distribution(presence, iterative_split(presence, RATIOS, s))[0] for s in seeds]
        random = [label_distribution(presence, random_split(len(presence), RATIOS, s))[0] for s in seeds]
        assert np.mean(iterative) < 0.6 * np.mean(random)
        iterative_lpd = [label_proportion_deviation(presence, iterative_split(presence, RATIOS, s)) for s in seeds]
        random_lpd = [label_proportion_deviation(presence, random_split(len(presence), RATIOS, s)) for s in seeds]
        assert np.mean(iterative_lpd) < 0.6 * np.mean(random_lpd)


def test_label_in_every_document_and_no_label_at_all_still_split():
    presence = presence_matrix(60)
    presence[:, 0] = 1  # NestedClinBr's Problema: no information, must not crash
    assert_partition(iterative_split(presence, RATIOS, seed=1), 60)
    assert_partition(iterative_split(presence[:, :0], RATIOS, seed=1), 60)  # every label excluded


# --- documents, files and the command -----------------------------------------------------------------


@pytest.fixture(scope="module")
def docs():
    presence = presence_matrix(60, seed=2)
    presence[:, 0] = 1
    return make_docs(presence)


def test_split_corpus_reports_labels_excluded_and_uninformative(docs):
    result = split_corpus(docs, method="iterative", seed=1, min_docs_per_label=6)
    matrix = label_matrix(docs)
    per_label = matrix.documents_per_label()
    assert result.excluded_labels == {label: n for label, n in per_label.items() if n < 6}
    assert "Anatomia" in result.excluded_labels
    assert result.uninformative_labels == ["Problema"]
    assert sum(len(result.docs[n]) for n in ("train", "dev", "test")) == len(docs)
    table = result.label_table()
    for label, row in table.items():
        assert row["all"]["entities"] == sum(row[n]["entities"] for n in ("train", "dev", "test"))
        assert row["all"]["entities"] == matrix.counts[:, matrix.labels.index(label)].sum()
    assert result.quality["label_distribution_undefined"][0] == "Problema"
    text = result.format_table()
    assert "Anatomia" in text and "excluded from stratification" in text and "LD" in text


def test_fixed_test_set_is_kept_and_only_the_rest_is_split(docs):
    test_docs = make_docs(presence_matrix(10, seed=9), prefix="official-test")
    result = split_corpus(docs, method="iterative", ratios=(0.8, 0.2), seed=1, fixed_test=test_docs)
    assert result.docs["test"] == test_docs
    assert result.doc_ids["test"] == [f"official-test-{i}" for i in range(10)]
    assert len(result.docs["train"]) + len(result.docs["dev"]) == len(docs)
    assert abs(len(result.docs["dev"]) - 0.2 * len(docs)) <= 2
    with pytest.raises(ValueError, match="expected 2 ratios"):
        split_corpus(docs, ratios=RATIOS, fixed_test=test_docs)
    with pytest.raises(ValueError, match="sum to 1"):
        split_corpus(docs, ratios=(0.6, 0.2, 0.1))


def test_written_files_round_trip(docs, tmp_path):
    result = split_corpus(docs, method="random", seed=4)
    write_split(result, tmp_path)
    manifest = json.loads((tmp_path / "split.json").read_text(encoding="utf8"))
    assert manifest["method"] == "random" and manifest["seed"] == 4 and manifest["ratios"] == list(RATIOS)
    for name in ("train", "dev", "test"):
        read_back = read_docs(tmp_path / f"{name}.spacy")
        assert [doc_id(d) for d in read_back] == manifest["doc_ids"][name]
        assert [len(d.spans["sc"]) for d in read_back] == [len(d.spans["sc"]) for d in result.docs[name]]
        assert [docs[i].text for i in manifest["indices"][name]] == [d.text for d in read_back]


def test_split_command_is_reproducible_and_reports_errors(docs, tmp_path):
    from spacy.tokens import DocBin

    corpus = tmp_path / "corpus.spacy"
    DocBin(store_user_data=True, docs=docs).to_disk(corpus)
    app = typer.Typer()
    app.command()(split_command)
    runner = CliRunner()
    outputs = []
    for out in ("a", "b"):
        args = [str(corpus), "-o", str(tmp_path / out), "--ratios", "0.6", "0.2", "0.2", "--seed", "11"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "label distribution LD" in result.output and "Problema" in result.output
        outputs.append(json.loads((tmp_path / out / "split.json").read_text(encoding="utf8")))
    assert outputs[0]["doc_ids"] == outputs[1]["doc_ids"]
    assert outputs[0]["method"] == "iterative"
    bad = runner.invoke(app, [str(corpus), "-o", str(tmp_path / "c"), "--ratios", "0.5", "0.2", "0.2"])
    assert bad.exit_code == 1 and "sum to 1" in bad.output


# --- bad input: `error: <file>: ...`, exit 1, never a traceback ---------------------------------------------


def run_split(corpus, output, *args):
    """`spacy-clinical-pt split CORPUS -o OUTPUT ARGS...`"""
    from spacy_clinical_pt.cli import app

    return CliRunner().invoke(app, ["split", str(corpus), "-o", str(output), *map(str, args)], catch_exceptions=False)


@pytest.fixture
def corpus_file(docs, tmp_path):
    from spacy.tokens import DocBin

    path = tmp_path / "corpus.spacy"
    DocBin(store_user_data=True, docs=docs).to_disk(path)
    return path


def test_an_output_folder_that_cannot_be_made_is_an_error_naming_it(corpus_file, tmp_path):
    from helpers import assert_clean_error

    blocker = tmp_path / "notes.txt"
    blocker.write_text("not a folder", encoding="utf8")
    result = run_split(corpus_file, blocker, "--method", "random")
    assert_clean_error(result, blocker)
    assert f"cannot write the split into {blocker}: it is a file, not a folder" in result.stderr
    result = run_split(corpus_file, blocker / "split", "--method", "random")
    assert_clean_error(result, blocker / "split")
    assert "Not a directory" in result.stderr
    assert blocker.read_text(encoding="utf8") == "not a folder"


def test_a_write_that_fails_is_an_error_naming_the_folder(corpus_file, tmp_path, monkeypatch):
    """A full disk (or a folder this user may not write: the same OSError) while the DocBins are written."""
    import errno

    from spacy.tokens import DocBin
    from helpers import assert_clean_error

    def full_disk(self, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(DocBin, "to_disk", full_disk)
    result = run_split(corpus_file, tmp_path / "out", "--method", "random")
    assert_clean_error(result, tmp_path / "out")
    assert "No space left on device" in result.stderr


def test_an_empty_docbin_or_one_without_spans_is_an_error_naming_the_file(corpus_file, tmp_path):
    from spacy.tokens import DocBin
    from helpers import assert_clean_error

    empty, plain = tmp_path / "empty.spacy", tmp_path / "plain.spacy"
    DocBin().to_disk(empty)
    DocBin(docs=[spacy.blank("pt")("sem entidades")]).to_disk(plain)
    for path, message in ((empty, "the DocBin holds no documents"), (plain, "no document has spans under key 'sc'")):
        result = run_split(path, tmp_path / "out")
        assert_clean_error(result, path)
        assert f"{path}: {message}" in result.stderr
        # the same for the fixed test set, named as such
        result = run_split(corpus_file, tmp_path / "out", "--test", path, "--ratios", "0.8", "0.2", "0")
        assert_clean_error(result, path)
        assert f"{path} (fixed test set): {message}" in result.stderr
    # (a missing --test file was already a clean error)
    absent = tmp_path / "absent.spacy"
    result = run_split(corpus_file, tmp_path / "out", "--test", absent, "--ratios", "0.8", "0.2", "0")
    assert_clean_error(result, tmp_path / "absent.spacy")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "option, message",
    [
        (["--ratios", "nan", "0.5", "0.5"], "ratios must be finite numbers, got [nan, 0.5, 0.5]"),
        (["--order", "0"], "order must be >= 1 (1: labels, 2: label pairs), got 0"),
    ],
)
def test_options_without_meaning_are_refused_before_anything_is_written(corpus_file, tmp_path, option, message):
    """nan passed every comparison of the ratio check (and split.json got NaN, which is not JSON); order 0 was run."""
    result = run_split(corpus_file, tmp_path / "out", *option)
    assert result.exit_code == 1 and f"error: {message}" in result.stderr
    assert not (tmp_path / "out").exists()


def test_with_a_fixed_test_set_the_ratios_give_a_test_share_of_zero(docs, corpus_file, tmp_path):
    """`--ratios` takes three numbers (typer's own tuple option, no extra-argument hack); with `--test`, CORPUS
    gives no test documents, so the test share is 0 and any other share is refused before anything is written."""
    from spacy.tokens import DocBin

    test_file = tmp_path / "official-test.spacy"
    test_docs = make_docs(presence_matrix(10, seed=9), prefix="official-test")
    DocBin(store_user_data=True, docs=test_docs).to_disk(test_file)
    result = run_split(corpus_file, tmp_path / "out", "--test", test_file, "--ratios", "0.8", "0.2", "0", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert "ratios 0.8/0.2 (train/dev of the rest; fixed test set)" in result.stdout
    manifest = json.loads((tmp_path / "out" / "split.json").read_text(encoding="utf8"))
    assert manifest["ratios"] == [0.8, 0.2] and manifest["fixed_test"] is True
    assert manifest["doc_ids"]["test"] == [f"official-test-{i}" for i in range(10)]
    assert manifest["sizes"]["train"] + manifest["sizes"]["dev"] == len(docs)

    refused = run_split(corpus_file, tmp_path / "refused", "--test", test_file, "--ratios", "0.6", "0.2", "0.2")
    assert refused.exit_code == 1
    assert refused.stderr == (
        "error: with --test, CORPUS gives no test documents: the test share must be 0 (e.g. --ratios 0.6 0.2 0), "
        "got [0.6, 0.2, 0.2]\n"
    )
    assert not (tmp_path / "refused").exists()
    two = run_split(corpus_file, tmp_path / "two", "--ratios", "0.8", "0.2")
    assert two.exit_code == 2 and "--ratios" in two.stderr  # typer's usage error: three numbers


def test_the_progress_of_writing_is_shown_per_file_by_the_caller(docs, tmp_path):
    """`write_split` shows no progress bar itself (the command passes one): it calls `progress` once per file."""
    result = split_corpus(docs, method="random", seed=4)
    calls = []

    def progress(items, description, total):
        calls.append((description, total))
        return items

    write_split(result, tmp_path, progress)
    assert calls == [(f"writing {name}.spacy", len(result.docs[name])) for name in ("train", "dev", "test")]
    assert [len(read_docs(tmp_path / f"{name}.spacy")) for name in ("train", "dev", "test")] == [
        len(result.docs[name]) for name in ("train", "dev", "test")
    ]
