"""The clinical tagger against spaCy's `spancat` on the same split and the same CNN tok2vec (issue 3's target).

    python benchmarks/tagger_vs_spancat.py                       # seeds 1 2 3 on corpus/nestedclinbr/iterative
    python benchmarks/tagger_vs_spancat.py --seeds 1 --models tagger

Models (see MODELS): `tagger` (BIO), `tagger_bioe` (BIOE: BIO plus an end column per label; the configs/cnn.cfg
default), `tagger_bioe_avg` (the same with parameter averaging), `spancat` (spaCy's spancat on the CNN tok2vec of
configs/spancat_cnn.cfg, window 1), `spancat_w2` (spancat on the tagger's window-2 tok2vec: the strictly same
encoder) and `tagger_spancat` (configs/cnn_tagger_spancat.cfg: the BIOE tagger proposes spans, spancat decides,
on one window-2 tok2vec). Every tagger is trained with CNN window 2, 6,000 steps, patience 2,000; spancat with
5,000 steps.

For each model and training seed it trains (`spacy train`, timed; a run folder that already holds `model-best`
and `train_seconds.txt` is reused, so the script can be resumed), evaluates on the split's test set with
`spacy-clinical-pt evaluate` (one row per way of choosing the thresholds, see ROWS: a tagger's on dev by token
micro F1, by exact-span F1, or a start + continuation pair by exact-span F1; a span classifier's (spancat, alone
or on the tagger's proposals) at its own 0.5, or chosen on dev by exact-span F1), measures
inference speed (words per second over the test notes, `nlp.pipe`, after one warm-up pass; words = spaCy tokens
that are not whitespace) and prints mean ± sd over the seeds: exact-span (strict) micro P/R/F1 and macro F1, token
micro and macro F1 (IO labels: BIO/BIOE columns collapsed to labels), training wall time, words/s. The same table
goes to `benchmarks/results/tagger_vs_spancat.md` with the machine, the data (sha256 of each file) and the commit.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import spacy
import typer

from spacy_clinical_pt.compare import mean_sd
from spacy_clinical_pt.convert import load_docs
from spacy_clinical_pt.encoders import resolve_encoder
from spacy_clinical_pt.evaluate import label_matrix_name
from spacy_clinical_pt.results import git_commit, sha256_of

from provenance import date_line, machine_line  # beside this script

REPO = Path(__file__).resolve().parents[1]
# Model name -> (config, `spacy train` overrides). Both read the split's train/dev and share the CNN tok2vec of
# configs/cnn.cfg; the tagger's settings are the measured best (BIO, window 2, 6,000 steps).
MODELS: dict[str, tuple[str, list[str]]] = {
    "tagger": (
        "configs/cnn.cfg",
        [
            "--components.clinical_tagger.scheme", "BIO",
            "--components.tok2vec.model.encode.window_size", "2",
            "--training.max_steps", "6000",
            "--training.patience", "2000",
        ],
    ),
    # The tagger with an explicit end column per label (BIOE): the same settings otherwise.
    "tagger_bioe": (
        "configs/cnn.cfg",
        [
            "--components.clinical_tagger.scheme", "BIOE",
            "--components.tok2vec.model.encode.window_size", "2",
            "--training.max_steps", "6000",
            "--training.patience", "2000",
        ],
    ),
    # The same with parameter averaging (the weights evaluated and saved are a moving average of the updates).
    "tagger_bioe_avg": (
        "configs/cnn.cfg",
        [
            "--components.clinical_tagger.scheme", "BIOE",
            "--components.tok2vec.model.encode.window_size", "2",
            "--training.max_steps", "6000",
            "--training.patience", "2000",
            "--training.optimizer.use_averages", "true",
        ],
    ),
    "spancat": ("configs/spancat_cnn.cfg", ["--training.max_steps", "5000"]),
    # The real pretrained transformer that installs offline (MiniLM, `{minilm}` = its folder), on CPU: IO as the
    # paper, 300 steps of 4 notes (15 epochs) at twice the paper's learning rate, with warm-up over 100 steps.
    "minilm": (
        "configs/transformer.cfg",
        [
            "--encoder.name", "{minilm}",
            "--components.clinical_tagger.scheme", "IO",
            "--components.clinical_tagger.class_weighting", "inverse_token_freq",
            "--training.max_steps", "300",
            "--training.optimizer.learn_rate.initial_rate", "1e-4",
            "--training.eval_frequency", "50",
        ],
    ),
    # spancat on the tagger's tok2vec (window 2): the strictly same-encoder comparison.
    "spancat_w2": (
        "configs/spancat_cnn.cfg",
        ["--components.tok2vec.model.encode.window_size", "2", "--training.max_steps", "5000"],
    ),
    # Two stages on the tagger's window-2 tok2vec: the BIOE tagger proposes spans, spancat decides
    # (configs/cnn_tagger_spancat.cfg).
    "tagger_spancat": (
        "configs/cnn_tagger_spancat.cfg",
        ["--training.max_steps", "6000", "--training.patience", "2000"],
    ),
}
# Table row -> (trained model, `evaluate` options). A tagger's threshold is chosen on dev, by token micro F1 (the
# paper's objective) or by exact-span F1 (the target here); a span classifier's (spancat) is its own 0.5
# (`--threshold-policy fixed`) or chosen on dev by exact-span F1.
ROWS: dict[str, tuple[str, list[str]]] = {
    "tagger (dev threshold: token F1)": ("tagger", ["--threshold-objective", "token"]),
    "tagger (dev threshold: span F1)": ("tagger", ["--threshold-objective", "entity"]),
    "tagger (dev start + continuation thresholds: span F1)": (
        "tagger", ["--threshold-objective", "entity", "--tune-continue-threshold"]
    ),
    "tagger BIOE (dev threshold: span F1)": ("tagger_bioe", ["--threshold-objective", "entity"]),
    "tagger BIOE (dev start + continuation thresholds: span F1)": (
        "tagger_bioe", ["--threshold-objective", "entity", "--tune-continue-threshold"]
    ),
    "tagger BIOE, averaged (dev start + continuation thresholds: span F1)": (
        "tagger_bioe_avg", ["--threshold-objective", "entity", "--tune-continue-threshold"]
    ),
    "spancat": ("spancat", ["--threshold-policy", "fixed"]),
    "spancat (dev threshold)": ("spancat", []),
    "minilm (dev threshold: token F1)": ("minilm", ["--threshold-objective", "token"]),
    "minilm (dev threshold: span F1)": ("minilm", ["--threshold-objective", "entity"]),
    "spancat (CNN window 2)": ("spancat_w2", ["--threshold-policy", "fixed"]),
    "tagger + spancat (spancat's threshold 0.5)": ("tagger_spancat", ["--threshold-policy", "fixed"]),
    "tagger + spancat (dev threshold)": ("tagger_spancat", []),
}


def train(model: str, seed: int, split: Path, run_dir: Path) -> float:
    """Train `model` with `seed` into run_dir (reused when already trained); RETURNS the training wall time (s)."""
    timing = run_dir / "train_seconds.txt"
    if (run_dir / "model-best").is_dir() and timing.is_file():
        typer.echo(f"{run_dir.name}: reusing the trained pipeline")
        return float(timing.read_text())
    config, overrides = MODELS[model]
    overrides = [o.format(minilm=resolve_encoder("minilm")) if o == "{minilm}" else o for o in overrides]
    command = [
        sys.executable, "-m", "spacy", "train", str(REPO / config), "--output", str(run_dir),
        "--paths.train", str(split / "train.spacy"), "--paths.dev", str(split / "dev.spacy"),
        "--system.seed", str(seed), *overrides,
    ]
    typer.echo(f"{run_dir.name}: training ({' '.join(command[3:])})")
    run_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(run_dir / "train.log", "w", encoding="utf8") as log:
        subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True, cwd=REPO)
    seconds = time.perf_counter() - start
    timing.write_text(f"{seconds:.1f}\n")
    return seconds


def evaluate(row: str, seed: int, split: Path, run_dir: Path) -> dict:
    """metrics.json of the run's best pipeline on the split's test set, evaluated as `row` says (computed once)."""
    model, options = ROWS[row]
    folder = run_dir / ("eval-" + "-".join(o.lstrip("-") for o in options) if options else "eval")
    metrics = folder / "metrics.json"
    if not metrics.is_file():
        command = [
            sys.executable, "-m", "spacy_clinical_pt", "evaluate", str(run_dir / "model-best"),
            str(split / "test.spacy"), "--output", str(folder), "--seed", str(seed),
            "--label", row, "--corpus", split.parent.name, *options,
        ]
        if "fixed" not in options:
            command += ["--dev", str(split / "dev.spacy")]
        subprocess.run(command, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    return json.loads(metrics.read_text(encoding="utf8"))


def words_per_second(model_dir: Path, test: Path) -> float:
    """Inference speed of the pipeline over the test notes (one warm-up pass, then one timed pass)."""
    nlp = spacy.load(model_dir)
    texts = [doc.text for doc in load_docs(test, nlp)]
    for _ in nlp.pipe(texts):
        pass
    start = time.perf_counter()
    words = sum(sum(not t.is_space for t in doc) for doc in nlp.pipe(texts))
    return words / (time.perf_counter() - start)


def row(metrics: dict) -> dict[str, float]:
    strict = metrics["entity"]["strict"]
    token = metrics["token"]
    io = token[label_matrix_name(metrics["scheme"])]
    return {
        "strict_p": strict["micro"]["precision"],
        "strict_r": strict["micro"]["recall"],
        "strict_f1": strict["micro"]["f1"],
        "strict_macro_f1": strict["macro"]["f1"],
        "token_micro_f1": io["micro"]["f1"],
        "token_macro_f1": io["macro"]["f1"],
    }


def fmt(values: list[float], digits: int = 4) -> str:
    mean, sd, n = mean_sd(values)
    if mean is None:
        return "–"
    return f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if sd is not None else "") + ("" if n > 1 else " (1 run)")


def main(
    split: Annotated[Path, typer.Option(help="Folder with train/dev/test.spacy (`weasel run split`).")] = Path(
        "corpus/nestedclinbr/iterative"
    ),
    seeds: Annotated[Optional[list[int]], typer.Option("--seeds", help="Training seeds.")] = None,
    models: Annotated[Optional[list[str]], typer.Option("--models", help="Models to run (see MODELS).")] = None,
    output: Annotated[Path, typer.Option(help="Folder of the run folders.")] = Path("training/tagger_vs_spancat"),
    results: Annotated[Path, typer.Option(help="Markdown results file.")] = Path(
        "benchmarks/results/tagger_vs_spancat.md"
    ),
    reuse_only: Annotated[
        bool, typer.Option("--reuse-only", help="Train nothing: tabulate the (model, seed) runs already trained.")
    ] = False,
) -> None:
    """Train and evaluate the clinical tagger and spancat on one split over several seeds; print the table."""
    seeds = seeds or [1, 2, 3]
    models = models or list(MODELS)
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise typer.BadParameter(f"unknown model(s) {unknown}: choose from {list(MODELS)}", param_hint="--models")
    split = split if split.is_absolute() else REPO / split
    for name in ("train", "dev", "test"):
        if not (split / f"{name}.spacy").is_file():
            raise typer.BadParameter(f"{split / name}.spacy is missing: run `weasel run split` first", param_hint="--split")
    table: dict[str, list[dict[str, float]]] = {}
    for model in models:
        for seed in seeds:
            run_dir = (output if output.is_absolute() else REPO / output) / f"{model}_s{seed}"
            if reuse_only and not (run_dir / "train_seconds.txt").is_file():
                typer.echo(f"{run_dir.name}: not trained, left out (--reuse-only)")
                continue
            seconds = train(model, seed, split, run_dir)
            speed = words_per_second(run_dir / "model-best", split / "test.spacy")
            for name in (name for name, (trained, _) in ROWS.items() if trained == model):
                figures = row(evaluate(name, seed, split, run_dir)) | {"train_s": seconds, "words_s": speed}
                typer.echo(f"{name} seed {seed}: " + ", ".join(f"{k} {v:.4f}" for k, v in figures.items()))
                table.setdefault(name, []).append(figures)
    header = (
        "| model | strict P | strict R | strict micro F1 | strict macro F1 | token micro F1 | token macro F1 "
        "| train s | words/s |"
    )
    lines = [header, "|" + "---|" * 9]
    for model, rows in table.items():
        cols = ["strict_p", "strict_r", "strict_f1", "strict_macro_f1", "token_micro_f1", "token_macro_f1"]
        cells = [fmt([r[c] for r in rows]) for c in cols]
        cells += [fmt([r["train_s"] for r in rows], 0), fmt([r["words_s"] for r in rows], 0)]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    typer.echo("\n" + text)
    data = {name: sha256_of(split / f"{name}.spacy")[:16] for name in ("train", "dev", "test")}
    provenance = [
        date_line(),
        f"- commit: {git_commit(REPO)}",
        machine_line(),
        f"- data: {split.relative_to(REPO) if split.is_relative_to(REPO) else split} (sha256 prefixes: "
        + ", ".join(f"{k} {v}" for k, v in data.items()) + ")",
        "- seeds: " + "; ".join(f"{name}: {len(rows)} run(s)" for name, rows in table.items()) + "; settings: "
        + "; ".join(f"{m}: {MODELS[m][0]} {' '.join(MODELS[m][1])}" for m in models),
        "- strict = exact span and label, micro over all entities; a tagger's thresholds are chosen on dev (by the "
        "objective in its row); a span classifier's threshold is its own 0.5 or chosen on dev, as its row says; "
        "words/s = inference over the test notes, one process; train s = wall time of `spacy train` as it ran. Both "
        "are measured on a machine that other jobs may share (two to four trainings side by side on the 2 cores): "
        "compare within one results file, and read them as rough.",
    ]
    results = results if results.is_absolute() else REPO / results
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(
        "# Clinical tagger vs spancat (same split, same CNN tok2vec)\n\n"
        + text + "\n\n" + "\n".join(provenance) + "\n\n"
        "Written by `python benchmarks/tagger_vs_spancat.py`.\n",
        encoding="utf8",
    )
    typer.echo(f"\nwritten: {results}")


if __name__ == "__main__":
    typer.run(main)
