"""Across runs: mean ± sd over seeds, Holm's correction, Friedman and Wilcoxon tests, Table 5, combined PR curves."""

import csv
import json

import numpy
import pytest
from scipy import stats
from helpers import assert_clean_error, invoke

from spacy_clinical_pt.compare import (
    aggregate_runs,
    combined_pr,
    label_blocks,
    load_run,
    mean_sd,
    render_aggregate,
    render_table5,
    table5,
)
from spacy_clinical_pt.significance import friedman_wilcoxon, holm

LABELS = ["Anatomia", "Problema", "Teste", "Tratamento"]


def write_run(
    path, label, seed, per_label, *, scheme="IO", corpus="nestedclinbr", policy="dev", curve=True, setup=None
):
    """A run folder as `evaluate` writes it, reduced to what aggregate/compare read.

    per_label: label -> token F1; macro F1 is their mean, micro F1 0.05 above it.
    setup: the pipeline's name in `pipeline_setup` (None: no such section, as evaluate wrote before it had one).
    """
    path.mkdir(parents=True)
    macro = float(numpy.mean(list(per_label.values())))
    token = {
        "macro": {"precision": macro, "recall": macro, "f1": macro},
        "micro": {"precision": macro + 0.05, "recall": macro + 0.05, "f1": macro + 0.05, "tp": 1, "fp": 1, "fn": 1},
        "auc_micro": 0.9,
        "auc_macro": 0.88,
        "per_label": {k: {"f1": v} for k, v in per_label.items()},
    }
    entity = {
        mode: {
            "micro": {"precision": macro - 0.1, "recall": macro - 0.1, "f1": macro - 0.1},
            "macro": None if mode == "boundary" else {"f1": macro - 0.12},
            "per_label": {} if mode == "boundary" else {k: {"f1": v - 0.1} for k, v in per_label.items()},
        }
        for mode in ("strict", "partial", "boundary")
    }
    # Span output (span classifiers, LLMs: scheme None) is scored on the IO matrix.
    tokens = {scheme or "IO": token} | ({"BIO_collapsed": token} if scheme == "BIO" else {})
    metrics = {
        "scheme": scheme,
        "labels": list(per_label),
        "token": tokens,
        "entity": entity,
        "threshold": {"policy": policy},
        "provenance": {"label": label, "corpus": corpus, "seed": seed},
    }
    if setup is not None:
        metrics["pipeline_setup"] = {"name": setup}
    (path / "metrics.json").write_text(json.dumps(metrics))
    if curve:
        with open(path / "pr_curves.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["series", "threshold", "precision", "recall", "f1", "tp", "fp", "fn"])
            for t in numpy.round(numpy.arange(1, 100) / 100, 2):
                writer.writerow(["micro", t, min(1.0, 0.3 + t * macro), 1 - t, 0.5, 1, 1, 1])
    return path


def test_holm_by_hand():
    # Sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.06 for the last.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.01, 0.02, 0.03]) == pytest.approx([0.03, 0.04, 0.04])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([]) == []


def test_friedman_and_wilcoxon_on_a_consistent_ranking():
    # Eight blocks, three models always ranked c > b > a: Friedman chi2 = n (k - 1) = 16; every pairwise
    # difference has the same sign, so the exact two-sided Wilcoxon p is 2 / 2^8; Holm multiplies the
    # smallest by 3 and keeps the running maximum.
    rng = numpy.random.default_rng(0)
    a = rng.uniform(0.3, 0.5, 8)
    b = a + numpy.linspace(0.01, 0.08, 8)
    c = b + numpy.linspace(0.02, 0.09, 8)[::-1]
    result = friedman_wilcoxon({"a": a, "b": b, "c": c})
    assert result["friedman"]["statistic"] == pytest.approx(16.0)
    assert result["friedman"]["pvalue"] == pytest.approx(stats.chi2.sf(16.0, 2))
    for row in result["pairwise"]:
        assert row["pvalue"] == pytest.approx(2 / 2**8)
        assert row["pvalue_holm"] == pytest.approx(3 * 2 / 2**8)
        assert row["significant"]


def test_friedman_and_wilcoxon_match_scipy_on_random_scores():
    rng = numpy.random.default_rng(1)
    shifts = {"x": 0.0, "y": 0.03, "z": 0.1, "w": 0.0}
    scores = {name: rng.uniform(0.4, 0.8, 12) + shift for name, shift in shifts.items()}
    result = friedman_wilcoxon(scores, alpha=0.05)
    expected = stats.friedmanchisquare(*scores.values())
    assert result["friedman"]["statistic"] == pytest.approx(expected.statistic)
    assert result["friedman"]["pvalue"] == pytest.approx(expected.pvalue)
    raw = []
    for row in result["pairwise"]:
        expected = stats.wilcoxon(scores[row["a"]], scores[row["b"]])
        assert row["statistic"] == pytest.approx(expected.statistic)
        assert row["pvalue"] == pytest.approx(expected.pvalue)
        raw.append(expected.pvalue)
    assert [r["pvalue_holm"] for r in result["pairwise"]] == pytest.approx(holm(raw))
    assert len(result["pairwise"]) == 6


def test_friedman_needs_three_models_and_identical_models_do_not_differ():
    with pytest.raises(ValueError, match="at least 3 models, got 2"):
        friedman_wilcoxon({"a": [0.1, 0.2, 0.3], "b": [0.2, 0.3, 0.4]})
    result = friedman_wilcoxon({"a": [0.1, 0.2, 0.3], "b": [0.1, 0.2, 0.3], "c": [0.3, 0.4, 0.6]})
    same = next(r for r in result["pairwise"] if {r["a"], r["b"]} == {"a", "b"})
    assert same["pvalue"] == 1.0 and same["statistic"] is None and not same["significant"]


def test_mean_sd_is_the_sample_sd():
    mean, sd, n = mean_sd([0.70, 0.72, 0.75, None])
    assert (mean, n) == (pytest.approx(0.7233333), 3)
    assert sd == pytest.approx(numpy.std([0.70, 0.72, 0.75], ddof=1))
    assert mean_sd([0.5]) == (0.5, None, 1)
    assert mean_sd([None]) == (None, None, 0)


def test_aggregate_groups_by_model_corpus_scheme_and_policy(tmp_path):
    f1s = [0.70, 0.74, 0.69]
    runs = [write_run(tmp_path / f"m{s}", "mmbert", s, dict.fromkeys(LABELS, f)) for s, f in enumerate(f1s)]
    runs.append(write_run(tmp_path / "oracle", "mmbert", 0, dict.fromkeys(LABELS, 0.9), policy="oracle"))
    rows = aggregate_runs([load_run(r) for r in runs])
    assert [(r["model"], r["policy"], r["runs"]) for r in rows] == [("mmbert", "dev", 3), ("mmbert", "oracle", 1)]
    assert rows[0]["token_macro_f1_mean"] == pytest.approx(numpy.mean(f1s))
    assert rows[0]["token_macro_f1_sd"] == pytest.approx(numpy.std(f1s, ddof=1))
    assert rows[0]["token_micro_f1_mean"] == pytest.approx(numpy.mean(f1s) + 0.05)
    assert rows[0]["seeds"] == "0 1 2" and rows[1]["token_macro_f1_sd"] is None


def test_aggregate_command_writes_table6(tmp_path):
    runs = [
        write_run(tmp_path / "runs" / f"s{s}", "mmbert", s, dict.fromkeys(LABELS, 0.7 + 0.01 * s)) for s in range(3)
    ]
    out = tmp_path / "agg"
    result = invoke(*["aggregate", *map(str, runs), "--output", str(out)])
    assert result.exit_code == 0, result.output
    table = (out / "aggregate.md").read_text()
    assert "Macro F1-score (± std)" in table and "0.7100 (± 0.0100)" in table and "0.7600 (± 0.0100)" in table
    rows = list(csv.DictReader(open(out / "aggregate.csv")))
    assert len(rows) == 1 and float(rows[0]["token_macro_f1_mean"]) == pytest.approx(0.71)
    assert json.loads((out / "aggregate.json").read_text())[0]["runs"] == 3
    missing = invoke(*["aggregate", str(tmp_path / "nowhere"), "--output", str(out)])
    assert missing.exit_code == 1 and "no metrics.json" in missing.output


@pytest.fixture
def benchmark(tmp_path):
    """Three models x two seeds on IO, two of them also on BIO, and an LLM (span-only) on IO."""
    rng = numpy.random.default_rng(5)
    runs, truth = [], {}
    for model, level in (("mmbert", 0.75), ("biobertpt", 0.68), ("bertimbau", 0.60)):
        for scheme in ("IO", "BIO") if model != "bertimbau" else ("IO",):
            for seed in (1, 2):
                per_label = {label: float(level + rng.normal(0, 0.03)) for label in LABELS}
                truth[(model, scheme, seed)] = per_label
                runs.append(write_run(tmp_path / f"{model}-{scheme}-{seed}", model, seed, per_label, scheme=scheme))
    return tmp_path, runs, truth


def test_label_blocks_keep_only_blocks_every_model_has(benchmark):
    _, runs, truth = benchmark
    scores, keys = label_blocks([load_run(r) for r in runs])
    # bertimbau has no BIO runs: the shared blocks are IO x 4 labels x 2 replicates.
    assert len(keys) == 8 and all(k[1] == "IO" for k in keys)
    assert scores["mmbert"][0] == pytest.approx(truth[("mmbert", "IO", 1)][keys[0][2]])


def test_label_blocks_pair_replicates_by_seed_within_each_pipeline(tmp_path):
    """Replicate k of a model meets replicate k of the others: runs numbered by seed (not by the order given nor by
    folder name), within one (model, corpus, scheme). Catches the mutations that pair runs in another order or
    number the IO and BIO runs of a model together (its IO runs would then be replicates 1 and 2)."""
    low = {"a": {"X": 0.50, "Y": 0.60}, "b": {"X": 0.60, "Y": 0.70}, "c": {"X": 0.70, "Y": 0.80}}
    high = {"a": {"X": 0.80, "Y": 0.85}, "b": {"X": 0.82, "Y": 0.87}, "c": {"X": 0.84, "Y": 0.89}}
    # Folder names sort seed 2 first; model a's runs are given seed 2 first.
    given = [("a", 2), ("a", 1), ("b", 1), ("b", 2), ("c", 2), ("c", 1)]
    runs = [write_run(tmp_path / f"{model}-{'b' if seed == 1 else 'a'}", model, seed, (low if seed == 1 else high)[model])
            for model, seed in given]
    runs.insert(1, write_run(tmp_path / "a-bio", "a", 1, {"X": 0.1, "Y": 0.1}, scheme="BIO"))
    scores, keys = label_blocks([load_run(r) for r in runs])
    assert keys == [("nestedclinbr", "IO", "X", 0), ("nestedclinbr", "IO", "X", 1),
                    ("nestedclinbr", "IO", "Y", 0), ("nestedclinbr", "IO", "Y", 1)]
    assert scores == {
        "a": [0.50, 0.80, 0.60, 0.85], "b": [0.60, 0.82, 0.70, 0.87], "c": [0.70, 0.84, 0.80, 0.89]
    }
    # Every block ranks a < b < c: chi2 = n (k - 1) = 4 x 2.
    assert friedman_wilcoxon(scores)["friedman"]["statistic"] == pytest.approx(8.0)


def write_curve(run, points):
    """Replace a run's pr_curves.csv by `points`: (series, threshold, precision, recall, tp, fp, fn) rows."""
    with open(run / "pr_curves.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["series", "threshold", "precision", "recall", "f1", "tp", "fp", "fn"])
        for series, t, p, r, tp, fp, fn in points:
            writer.writerow([series, t, p, r, 2 * p * r / (p + r), tp, fp, fn])


def test_combined_pr_averages_the_runs_curves_at_each_shared_threshold(tmp_path):
    """The curve of a model is the mean over its runs of precision and recall at each threshold every run has.
    Catches the mutations that take the first run only or pool the runs' counts (here 79 / 118 = 0.669 precision
    at 0.25 where the mean is 0.6)."""
    one = write_run(tmp_path / "m1", "m", 1, dict.fromkeys(LABELS, 0.7), curve=False)
    two = write_run(tmp_path / "m2", "m", 2, dict.fromkeys(LABELS, 0.7), curve=False)
    write_curve(one, [("micro", 0.25, 0.5, 0.9, 9, 9, 1), ("micro", 0.5, 0.75, 0.6, 6, 2, 4),
                      ("Problema", 0.25, 0.1, 0.1, 1, 9, 9)])
    write_curve(two, [("micro", 0.25, 0.7, 0.7, 70, 30, 30), ("micro", 0.5, 0.9, 0.5, 45, 5, 45),
                      ("micro", 0.75, 1.0, 0.1, 10, 0, 90)])
    no_curve = write_run(tmp_path / "llm", "gpt", None, dict.fromkeys(LABELS, 0.6), policy="output", curve=False)
    curves, rows = combined_pr([load_run(r) for r in (one, two, no_curve)])
    assert list(curves) == ["m (IO, nestedclinbr)"]
    recall, precision = curves["m (IO, nestedclinbr)"]
    assert recall == pytest.approx([0.8, 0.55]) and precision == pytest.approx([0.6, 0.825])
    assert [(r["runs"], r["threshold"]) for r in rows] == [(2, 0.25), (2, 0.5)]


def test_compare_command_writes_table5_stats_and_figure(benchmark, tmp_path):
    root, runs, truth = benchmark
    out = tmp_path / "cmp"
    result = invoke(*["compare", *map(str, runs), "--output", str(out)])
    assert result.exit_code == 0, result.output
    rows = {r["model"]: r for r in csv.DictReader(open(out / "table5.csv"))}
    assert list(rows) == ["mmbert", "biobertpt", "bertimbau"]
    io_macro = numpy.mean([numpy.mean(list(truth[("mmbert", "IO", s)].values())) for s in (1, 2)])
    assert float(rows["mmbert"]["nestedclinbr macro F1 IO"]) == pytest.approx(io_macro)
    assert float(rows["mmbert"]["nestedclinbr micro F1 BIO"]) == pytest.approx(
        numpy.mean([numpy.mean(list(truth[("mmbert", "BIO", s)].values())) for s in (1, 2)]) + 0.05
    )
    assert rows["bertimbau"]["nestedclinbr macro F1 BIO"] == ""  # no BIO run
    assert "| Model |" in (out / "table5.md").read_text()
    stats_json = json.loads((out / "stats.json").read_text())
    vectors = [
        [truth[(m, "IO", s)][label] for s in (1, 2) for label in LABELS] for m in ("mmbert", "biobertpt", "bertimbau")
    ]
    expected = stats.friedmanchisquare(*vectors)
    assert stats_json["friedman"]["statistic"] == pytest.approx(expected.statistic)
    assert stats_json["friedman"]["blocks"] == 8 and len(stats_json["pairwise"]) == 3
    assert "Holm" in (out / "stats.md").read_text()
    png = (out / "pr_combined.png").read_bytes()
    assert png[:4] == b"\x89PNG" and len(png) > 10_000
    series = {r["series"] for r in csv.DictReader(open(out / "pr_combined.csv"))}
    assert series == {"mmbert (IO, nestedclinbr)", "mmbert (BIO, nestedclinbr)", "biobertpt (IO, nestedclinbr)",
                      "biobertpt (BIO, nestedclinbr)", "bertimbau (IO, nestedclinbr)"}


def test_compare_refuses_two_models_and_mixed_policies(benchmark, tmp_path):
    root, runs, _ = benchmark
    two = [r for r in runs if "bertimbau" not in r.name]
    result = invoke(*["compare", *map(str, two), "--output", str(tmp_path / "x")])
    assert result.exit_code == 1 and "at least 3 models" in result.output
    oracle = write_run(root / "oracle-run", "mmbert", 3, dict.fromkeys(LABELS, 0.8), policy="oracle")
    result = invoke(*["compare", *map(str, runs + [oracle]), "--output", str(tmp_path / "y")])
    assert result.exit_code == 1 and "mix threshold policies" in result.output


def test_compare_explains_runs_that_share_no_block(tmp_path):
    """A BIO tagger, an IO tagger of another corpus and a span-only run never meet: the error says why."""
    runs = [
        write_run(tmp_path / "tagger-bio", "tagger", 1, dict.fromkeys(LABELS, 0.8), scheme="BIO"),
        write_run(tmp_path / "tagger-er", "other", 1, dict.fromkeys(LABELS, 0.7), corpus="er_ner"),
        write_run(tmp_path / "llm", "gpt", None, dict.fromkeys(LABELS, 0.6), policy="output"),
    ]
    result = invoke(*["compare", *map(str, runs), "--output", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "share no (corpus, scheme, label) block" in result.output
    assert "tagger (nestedclinbr, BIO)" in result.output and "other (er_ner, IO)" in result.output


def test_table5_has_a_column_for_every_scheme_and_pipeline_present(tmp_path):
    runs = [
        write_run(tmp_path / "io", "cnn", 1, dict.fromkeys(LABELS, 0.70), scheme="IO", setup="IO"),
        write_run(tmp_path / "bioe", "cnn", 1, dict.fromkeys(LABELS, 0.75), scheme="BIOE", setup="BIOE"),
        write_run(tmp_path / "two", "cnn", 1, dict.fromkeys(LABELS, 0.80), scheme=None, setup="BIOE + spancat"),
        write_run(tmp_path / "llm", "gpt", None, dict.fromkeys(LABELS, 0.60), policy="output", setup="spans"),
    ]
    header, rows = table5([load_run(r) for r in runs])
    pipelines = ["IO", "BIOE", "BIOE + spancat", "spans"]
    assert header == ["model"] + [f"nestedclinbr {a} F1 {p}" for a in ("macro", "micro") for p in pipelines]
    assert rows[0] == ["cnn", 0.70, 0.75, 0.80, None, pytest.approx(0.75), 0.80, pytest.approx(0.85), None]
    assert rows[1] == ["gpt", None, None, None, 0.60, None, None, None, pytest.approx(0.65)]
    table = render_table5(header, rows, ["dev", "output"], len(runs))
    assert "| Model | nestedclinbr macro F1 IO | nestedclinbr macro F1 BIOE |" in table
    assert "| cnn | 0.7000 | 0.7500 | 0.8000 | — |" in table


def test_aggregate_names_the_pipeline_that_ran(tmp_path):
    runs = [
        write_run(tmp_path / f"two{s}", "cnn", s, dict.fromkeys(LABELS, 0.8), scheme=None, setup="BIOE + spancat")
        for s in (1, 2)
    ]
    runs.append(write_run(tmp_path / "bioe", "cnn", 1, dict.fromkeys(LABELS, 0.7), scheme="BIOE", setup="BIOE"))
    runs.append(write_run(tmp_path / "old", "mmbert", 1, dict.fromkeys(LABELS, 0.7), scheme="BIO"))  # no setup
    rows = aggregate_runs([load_run(r) for r in runs])
    assert [(r["model"], r["pipeline"], r["token_matrix"], r["runs"]) for r in rows] == [
        ("cnn", "BIOE + spancat", "IO", 2), ("cnn", "BIOE", "BIOE", 1), ("mmbert", "BIO", "BIO", 1)
    ]
    table = render_aggregate(rows)
    assert "| model | pipeline | threshold policy |" in table
    assert "| cnn | BIOE + spancat | dev " in table and "| cnn | IO |" not in table


BAD_METRICS = {
    "truncated": b'{"token": {',
    "binary": b"\x89PNG\r\n\x1a\n\xff\xfe",
    "list": b"[1, 2]",
    "sections": b'{"token": 3, "entity": {}, "threshold": {}}',
    "nested too deep": b"[" * 100_000,
    "provenance a list": b'{"token": {}, "entity": {}, "threshold": {}, "provenance": []}',
    "score a list": b'{"token": {"IO": {"micro": {"f1": [1]}}}, "entity": {}, "threshold": {}}',
}


@pytest.mark.parametrize("command", ["aggregate", "compare"])
@pytest.mark.parametrize("case", list(BAD_METRICS))
def test_a_bad_metrics_json_is_a_clear_error(command, case, benchmark, tmp_path):
    _, runs, _ = benchmark
    folder = tmp_path / case
    folder.mkdir()
    (folder / "metrics.json").write_bytes(BAD_METRICS[case])
    result = invoke(*[command, *map(str, runs), str(folder), "--output", str(tmp_path / "out")])
    assert_clean_error(result, str(folder / "metrics.json"))


@pytest.mark.parametrize("command", ["aggregate", "compare"])
def test_an_output_that_cannot_be_written_is_a_clear_error(command, benchmark, tmp_path):
    _, runs, _ = benchmark
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    result = invoke(*[command, *map(str, runs), "--output", str(blocker / "out")])
    assert_clean_error(result, str(blocker / "out"))


def test_compare_names_a_corrupt_pr_curves_file(benchmark, tmp_path):
    _, runs, _ = benchmark
    (runs[0] / "pr_curves.csv").write_text("series,threshold\nmicro,high\n")
    result = invoke(*["compare", *map(str, runs), "--output", str(tmp_path / "out")])
    assert_clean_error(result, str(runs[0] / "pr_curves.csv"))
