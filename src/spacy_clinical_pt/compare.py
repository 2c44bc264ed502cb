"""Across runs: mean ± standard deviation over seeds (the paper's Table 6), and model comparison with tests.

Both commands read the `metrics.json` (and `pr_curves.csv`) that `spacy-clinical-pt evaluate` wrote in each run
folder; the token-level figures follow the one rule of `metrics` (whitespace tokens left out, macro over every
label). A run is identified by its model name (`provenance.label`, set with `evaluate --name`), its corpus
(`provenance.corpus`), the pipeline that ran (`pipeline_setup.name`: the tagger's scheme, "BIOE + spancat" when a
span classifier decides on its proposals, "spans" for other span output; runs written before evaluate recorded
it: their scheme) and its threshold policy. Runs with different threshold policies are never pooled: an oracle
threshold (chosen on the test set) is optimistic and must not mix with honest runs.

- `aggregate RUN_DIRS... --output DIR`: per (model, corpus, pipeline, policy), the mean and sample standard
  deviation (ddof=1) of every headline metric over the runs (training seeds and/or split seeds):
  `aggregate.md` (Table 6 layout), `aggregate.csv`, `aggregate.json`.
- `compare RUN_DIRS... --output DIR`: a Friedman test across models over per-label F1 (the blocks: every label
  of every corpus, token matrix and replicate that all models share), pairwise Wilcoxon signed-rank post-tests
  with Holm's correction (as the BioBERTpt paper), `table5.md`/`.csv` (rows models, columns macro/micro F1 per
  corpus and pipeline present, the paper's Table 5), and `pr_combined.png`/`.csv` (micro-averaged PR curves of
  every model).

A missing or unreadable metrics.json or pr_curves.csv, or an output folder that cannot be written, raises
FileNotFoundError or ValueError naming the file (the commands in `cli/aggregate.py` and `cli/compare.py` print it).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy

from .evaluate import label_matrix_name
from .results import read_metrics, write_csv
from .plots import plot_combined_pr
from .schemes import SCHEMES
from .significance import friedman_wilcoxon

# The headline metrics of a run: name -> path in metrics.json ("{scheme}" is the run's token matrix).
HEADLINE = {
    "token_macro_f1": ("token", "{scheme}", "macro", "f1"),
    "token_micro_f1": ("token", "{scheme}", "micro", "f1"),
    "token_micro_precision": ("token", "{scheme}", "micro", "precision"),
    "token_micro_recall": ("token", "{scheme}", "micro", "recall"),
    "token_auc_micro": ("token", "{scheme}", "auc_micro"),
    "token_auc_macro": ("token", "{scheme}", "auc_macro"),
    "strict_micro_f1": ("entity", "strict", "micro", "f1"),
    "strict_macro_f1": ("entity", "strict", "macro", "f1"),
    "partial_micro_f1": ("entity", "partial", "micro", "f1"),
    "boundary_micro_f1": ("entity", "boundary", "micro", "f1"),
}
PER_LABEL_METRICS = ("token", "strict", "partial")


class Run(dict):
    """One evaluation run: its metrics.json, plus `run_dir`, and the keys that group and align runs."""

    @property
    def model(self) -> str:
        return str(self["_model"])

    @property
    def corpus(self) -> str:
        return str(self.get("provenance", {}).get("corpus") or "corpus")

    @property
    def scheme(self) -> str:
        """The token matrix of the figures: the tagger's scheme, or IO for span output (span classifiers, LLMs)."""
        return str(self.get("scheme") or "IO")

    @property
    def pipeline(self) -> str:
        """The pipeline that ran ("BIOE", "BIOE + spancat", "spans"); the scheme for runs that do not say."""
        setup = self.get("pipeline_setup")
        return str((setup.get("name") if isinstance(setup, dict) else None) or self.scheme)

    @property
    def policy(self) -> str:
        return str(self.get("threshold", {}).get("policy", "output"))

    @property
    def seed(self) -> Optional[int]:
        return self.get("provenance", {}).get("seed")


def load_run(run_dir: str | Path, group_by: str = "label") -> Run:
    """Read `run_dir/metrics.json`. group_by: "label" (provenance label) or "parent" (the folder above run_dir).

    Raises FileNotFoundError or ValueError, naming the file, for a missing, unreadable or malformed one.
    """
    run_dir = Path(run_dir)
    path = run_dir / "metrics.json" if run_dir.is_dir() else run_dir
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: no metrics.json (run `spacy-clinical-pt evaluate ... --output {run_dir}`)")
    data = read_metrics(path)
    for key in ("token", "entity", "threshold"):
        if not isinstance(data.get(key), dict):
            raise ValueError(f"{path}: no '{key}' section; is it a metrics.json written by `evaluate`?")
    run = Run(data)
    run["run_dir"] = str(path.parent)
    if group_by == "parent":
        run["_model"] = path.parent.parent.name
    else:
        prov = run.get("provenance") if isinstance(run.get("provenance"), dict) else {}
        run["_model"] = prov.get("label") or (prov.get("pipeline") or {}).get("name") or path.parent.name
    return run


def _lookup(run: Mapping[str, Any], path: Sequence[str], scheme: str) -> Optional[float]:
    value: Any = run
    for part in path:
        part = part.format(scheme=scheme)
        if not isinstance(value, Mapping) or part not in value or value[part] is None:
            return None
        value = value[part]
    return float(value)


def headline(run: Run) -> dict[str, Optional[float]]:
    """The headline metrics of a run (see HEADLINE); None where a run lacks one (AUC of span-only runs)."""
    return {name: _lookup(run, path, run.scheme) for name, path in HEADLINE.items()}


def mean_sd(values: Sequence[Optional[float]]) -> tuple[Optional[float], Optional[float], int]:
    """Mean and sample standard deviation (ddof=1) of the values that are not None, and their count.

    sd is None with fewer than two values.
    """
    present = [v for v in values if v is not None]
    if not present:
        return None, None, 0
    mean = float(numpy.mean(present))
    sd = float(numpy.std(present, ddof=1)) if len(present) > 1 else None
    return mean, sd, len(present)


def aggregate_runs(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """Mean and sd of every headline metric per (model, corpus, pipeline, policy), in first-seen order.

    RETURNS: rows {"model", "corpus", "pipeline", "token_matrix", "policy", "runs", "seeds", "<metric>_mean",
        "<metric>_sd"}; token_matrix: the matrix of the token figures (the tagger's scheme, or IO for span output).
    """
    groups: dict[tuple[str, str, str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.model, run.corpus, run.pipeline, run.policy), []).append(run)
    rows = []
    for (model, corpus, pipeline, policy), members in groups.items():
        row: dict[str, Any] = {
            "model": model,
            "corpus": corpus,
            "pipeline": pipeline,
            "token_matrix": members[0].scheme,  # one per pipeline
            "policy": policy,
            "runs": len(members),
            "seeds": " ".join(str(r.seed) for r in members if r.seed is not None),
        }
        figures = [headline(r) for r in members]
        for name in HEADLINE:
            mean, sd, _ = mean_sd([f[name] for f in figures])
            row[f"{name}_mean"], row[f"{name}_sd"] = mean, sd
        rows.append(row)
    return rows


TOKEN_NOTE = (
    "Token-level F1 over the token x label matrix (spaCy tokens, whitespace excluded; macro over every label, one "
    "without gold or predicted tokens counting 0). A tagger is scored on its own columns (BIO/BIOE: B/I(/E), as "
    "the paper); span output (a span classifier deciding, e.g. `BIOE + spancat`; LLMs: `spans`) on the IO matrix."
)
POLICY_NOTE = {
    "oracle": "threshold chosen on the test set, as in the paper: optimistic",
    "dev": "threshold chosen on dev, applied to test",
    "fixed": "fixed threshold",
    "output": "span-only pipeline, fixed output",
}


def render_aggregate(rows: Sequence[Mapping[str, Any]]) -> str:
    """aggregate.md: per corpus, rows (model, pipeline, policy) with macro and micro F1 mean (± sd), as Table 6."""
    lines = ["# Mean (± sample standard deviation) over runs", ""]
    lines += [
        f"{TOKEN_NOTE} Entity strict micro F1 beside it. sd is the sample standard deviation (ddof=1).",
        "",
    ]
    for corpus in dict.fromkeys(r["corpus"] for r in rows):
        lines += [f"## {corpus}", ""]
        lines += [
            "| model | pipeline | threshold policy | runs | Macro F1-score (± std) | Micro F1-score (± std) "
            "| Entity strict micro F1 (± std) |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in (r for r in rows if r["corpus"] == corpus):
            lines.append(
                f"| {r['model']} | {r['pipeline']} | {r['policy']} ({POLICY_NOTE.get(r['policy'], r['policy'])}) "
                f"| {r['runs']} | {pm(r['token_macro_f1_mean'], r['token_macro_f1_sd'])} "
                f"| {pm(r['token_micro_f1_mean'], r['token_micro_f1_sd'])} "
                f"| {pm(r['strict_micro_f1_mean'], r['strict_micro_f1_sd'])} |"
            )
        lines.append("")
    return "\n".join(lines)


def _load_runs(run_dirs: Sequence[str | Path], group_by: str) -> list[Run]:
    if not run_dirs:
        raise ValueError("give at least one run folder (each holding a metrics.json)")
    return [load_run(d, group_by) for d in run_dirs]


def aggregate(run_dirs: Sequence[str | Path], output: Path, group_by: str = "label") -> list[dict[str, Any]]:
    """Aggregate the runs of `run_dirs` into `output`: aggregate.md (Table 6 layout), aggregate.csv, aggregate.json.

    group_by: "label" (the run's model name) or "parent" (the run folder's parent).
    RETURNS: the `aggregate_runs` rows. Raises FileNotFoundError or ValueError naming the file.
    """
    rows = aggregate_runs(_load_runs(run_dirs, group_by))
    _write(output, {"aggregate.md": render_aggregate(rows), "aggregate.json": json.dumps(rows, indent=2)})
    _write_csv(rows, output / "aggregate.csv")
    return rows


def pm(mean: Optional[float], sd: Optional[float]) -> str:
    """A mean (± sd) cell: "0.8123 (± 0.0100)", "0.8123 (single run)" or "n/a"."""
    if mean is None:
        return "n/a"
    return f"{mean:.4f} (± {sd:.4f})" if sd is not None else f"{mean:.4f} (single run)"


def _write(output: Path, texts: Mapping[str, str]) -> None:
    """Write each name -> text into the folder `output` (created); a ValueError naming what cannot be written."""
    try:
        output.mkdir(parents=True, exist_ok=True)
        for name, text in texts.items():
            (output / name).write_text(text, encoding="utf8")
    except OSError as err:
        raise ValueError(f"{output}: cannot write the results there ({err.strerror or err})") from None


def _write_csv(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """`evaluate.write_csv`, with a ValueError naming the file when it cannot be written."""
    try:
        write_csv(rows, path)
    except OSError as err:
        raise ValueError(f"{path}: cannot be written ({err.strerror or err})") from None


def per_label_f1(run: Run, metric: str = "token") -> dict[str, float]:
    """Per-label F1 of a run: token level per entity type (BIO collapsed), or entity strict/partial."""
    if metric == "token":
        per_label = run["token"].get(label_matrix_name(run.scheme), {}).get("per_label", {})
    elif metric in ("strict", "partial"):
        per_label = run["entity"][metric]["per_label"]
    else:
        raise ValueError(f"unknown per-label metric {metric!r}: use one of {', '.join(PER_LABEL_METRICS)}")
    return {label: float(s["f1"]) for label, s in per_label.items()}


def label_blocks(runs: Sequence[Run], metric: str = "token") -> tuple[dict[str, list[float]], list[tuple]]:
    """Per-model score vectors over the blocks every model shares.

    A block is (corpus, scheme, label, replicate): a model's runs of one corpus and scheme are numbered by seed
    (then folder) so that replicate k of one model meets replicate k of another.
    RETURNS: (model -> scores in block order, the block keys).
    """
    by_model: dict[str, dict[tuple, float]] = defaultdict(dict)
    grouped: dict[tuple[str, str, str], list[Run]] = defaultdict(list)
    for run in runs:
        grouped[(run.model, run.corpus, run.scheme)].append(run)
    for (model, corpus, scheme), members in grouped.items():
        members.sort(key=lambda r: (r.seed is None, r.seed if r.seed is not None else 0, r["run_dir"]))
        for replicate, run in enumerate(members):
            for label, f1 in per_label_f1(run, metric).items():
                by_model[model][(corpus, scheme, label, replicate)] = f1
    shared = set.intersection(*(set(blocks) for blocks in by_model.values())) if by_model else set()
    keys = sorted(shared)
    return {model: [blocks[k] for k in keys] for model, blocks in by_model.items()}, keys


def _pipeline_order(name: str) -> tuple[int, str]:
    """Table 5's column order: by the tagger's scheme (IO, BIO, BIOE), then the rest by name."""
    base = name.split(" + ")[0]
    return (SCHEMES.index(base) if base in SCHEMES else len(SCHEMES), name)


def table5(runs: Sequence[Run]) -> tuple[list[str], list[list[Any]]]:
    """The paper's Table 5: rows models; per corpus Macro F1 then Micro F1 of every pipeline present in that corpus
    (the paper's IO and BIO, BIOE, "BIOE + spancat", "spans"...), means over runs.

    RETURNS: (header, rows); a missing cell is None.
    """
    corpora = list(dict.fromkeys(r.corpus for r in runs))
    models = list(dict.fromkeys(r.model for r in runs))
    cells: dict[tuple, list[Run]] = defaultdict(list)
    for run in runs:
        cells[(run.model, run.corpus, run.pipeline)].append(run)
    columns = [
        (corpus, average, pipeline)
        for corpus in corpora
        for average in ("macro", "micro")
        for pipeline in sorted({r.pipeline for r in runs if r.corpus == corpus}, key=_pipeline_order)
    ]
    header = ["model"] + [f"{corpus} {average} F1 {pipeline}" for corpus, average, pipeline in columns]
    rows = []
    for model in models:
        row: list[Any] = [model]
        for corpus, average, pipeline in columns:
            members = cells.get((model, corpus, pipeline), [])
            mean, _, _ = mean_sd([headline(r)[f"token_{average}_f1"] for r in members])
            row.append(mean)
        rows.append(row)
    return header, rows


def render_table5(header: Sequence[str], rows: Sequence[Sequence[Any]], policies: Sequence[str], runs: int) -> str:
    """table5.md: the `table5` header and rows, "—" where a model has no run, and what the figures are."""
    lines = ["# Benchmark (Table 5 layout)", ""]
    lines += ["| Model | " + " | ".join(header[1:]) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join([str(row[0])] + ["—" if v is None else f"{v:.4f}" for v in row[1:]]) + " |")
    notes = "; ".join(f"{p}: {POLICY_NOTE.get(p, p)}" for p in policies)
    lines += [
        "",
        f"{TOKEN_NOTE} Each cell is the mean over that model's runs ({runs} runs in all). Threshold policy: {notes}.",
        "",
    ]
    return "\n".join(lines)


def render_stats(result: Mapping[str, Any], metric: str, blocks: int) -> str:
    f = result["friedman"]
    lines = [
        f"# Friedman and Wilcoxon tests over per-label F1 ({metric})",
        "",
        f"Blocks: {blocks} (label x corpus x scheme x replicate shared by all models). "
        f"Friedman chi-square = {f['statistic']:.4f}, p = {f['pvalue']:.4g} "
        f"({'significant' if f['significant'] else 'not significant'} at alpha {result['alpha']}).",
        "",
        "Blocks pooled over replicates (seeds) of the same label are not independent, so with several seeds "
        "the p-values are optimistic; with one run per model they are the BioBERTpt paper's test.",
        "",
        "Pairwise Wilcoxon signed-rank tests, p-values adjusted with Holm's method:",
        "",
        "| model A | model B | median F1 difference (A - B) | W | p | p (Holm) | significant |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["pairwise"]:
        w = "n/a" if row["statistic"] is None else f"{row['statistic']:.1f}"
        lines.append(
            f"| {row['a']} | {row['b']} | {row['median_difference']:.4f} | {w} | {row['pvalue']:.4g} "
            f"| {row['pvalue_holm']:.4g} | {'yes' if row['significant'] else 'no'} |"
        )
    return "\n".join(lines + [""])


def combined_pr(runs: Sequence[Run]) -> tuple[dict[str, tuple[list[float], list[float]]], list[dict[str, Any]]]:
    """Micro PR curves per (model, scheme, corpus), precision and recall averaged over runs at each threshold.

    Reads each run's `pr_curves.csv` (runs without one, e.g. span-only pipelines, are left out).
    RETURNS: (series name -> (recall, precision), CSV rows).
    """
    grouped: dict[str, list[dict[float, tuple[float, float]]]] = defaultdict(list)
    for run in runs:
        path = Path(run["run_dir"]) / "pr_curves.csv"
        if not path.is_file():
            continue
        points = micro_pr_points(path)
        if points:
            grouped[f"{run.model} ({run.pipeline}, {run.corpus})"].append(points)
    curves, rows = {}, []
    for name, members in grouped.items():
        thresholds = sorted(set.intersection(*(set(m) for m in members)))
        recall = [float(numpy.mean([m[t][0] for m in members])) for t in thresholds]
        precision = [float(numpy.mean([m[t][1] for m in members])) for t in thresholds]
        curves[name] = (recall, precision)
        rows += [
            {"series": name, "runs": len(members), "threshold": t, "recall": r, "precision": p}
            for t, r, p in zip(thresholds, recall, precision)
        ]
    return curves, rows


def micro_pr_points(path: Path) -> dict[float, tuple[float, float]]:
    """threshold -> (recall, precision) of the micro series of a `pr_curves.csv`; a ValueError naming the file and
    the line for one that `evaluate` did not write."""
    try:
        handle = open(path, encoding="utf8", newline="")
    except OSError as err:
        raise ValueError(f"{path}: cannot be read ({err.strerror or err})") from None
    points = {}
    with handle:
        reader = csv.DictReader(handle)
        try:
            for row in reader:
                if row.get("series") == "micro":
                    points[float(row["threshold"])] = (float(row["recall"]), float(row["precision"]))
        except (KeyError, TypeError, ValueError, csv.Error) as err:
            raise ValueError(
                f"{path}: not a pr_curves.csv written by `evaluate` (line {reader.line_num}: {type(err).__name__})"
            ) from None
    return points


def compare(
    run_dirs: Sequence[str | Path], output: Path, metric: str = "token", alpha: float = 0.05, group_by: str = "label"
) -> tuple[dict[str, Any], list[str]]:
    """Compare the models of `run_dirs` into `output`: table5.md/.csv, stats.json/.md, and pr_combined.csv/.png
    when runs have PR curves.

    metric: the per-label F1 of the tests ("token", "strict", "partial"). alpha: the level after Holm's correction.
    group_by: "label" (the run's model name) or "parent" (the run folder's parent).
    RETURNS: (the `friedman_wilcoxon` result with metric, blocks and scores, the file names written). Raises
        FileNotFoundError or ValueError naming the file or what the runs do not share.
    """
    runs = _load_runs(run_dirs, group_by)
    policies = sorted({r.policy for r in runs})
    # Span-only runs ("output") have no threshold and sit beside any one policy.
    if len(set(policies) - {"output"}) > 1:
        raise ValueError(
            f"runs mix threshold policies ({', '.join(policies)}): compare runs evaluated with one policy "
            "(an oracle threshold is optimistic and cannot be compared with a dev-chosen one)"
        )
    scores, keys = label_blocks(runs, metric)
    if not keys:
        kinds = sorted({f"{r.model} ({r.corpus}, {r.scheme})" for r in runs})
        raise ValueError(
            "the models share no (corpus, scheme, label) block, so they cannot be compared: " + "; ".join(kinds)
            + ". Runs meet only on the same corpus and scheme (span-only pipelines such as LLMs and spancat "
            "are scored in IO): compare them with IO runs of the tagger"
        )
    result = friedman_wilcoxon(scores, alpha)
    result.update(metric=metric, blocks=[list(k) for k in keys], scores=scores)
    header, rows = table5(runs)
    _write(output, {
        "table5.md": render_table5(header, rows, policies, len(runs)),
        "stats.json": json.dumps(result, indent=2),
        "stats.md": render_stats(result, metric, len(keys)),
    })
    _write_csv([dict(zip(header, row)) for row in rows], output / "table5.csv")
    written = ["table5.md", "table5.csv", "stats.json", "stats.md"]
    curves, curve_rows = combined_pr(runs)
    if curves:
        _write_csv(curve_rows, output / "pr_combined.csv")
        notes = "; ".join(POLICY_NOTE.get(p, p) for p in policies)
        subtitle = f"token level, micro-averaged; thresholds 0.01-0.99; {notes}"
        plot_combined_pr(curves, output / "pr_combined.png", "Precision-recall of the compared models", subtitle)
        written += ["pr_combined.csv", "pr_combined.png"]
    return result, written
