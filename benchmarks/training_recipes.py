"""Training recipes against each other on one split, over seeds: rare labels, pretraining, continued training.

    python benchmarks/training_recipes.py --corpus-dir corpus/clinpt/iterative --seeds 0,1,2 \\
        --recipes default,weighted,weighted+oversampling,weighted+focal --results benchmarks/results/rare_labels.md
    python benchmarks/training_recipes.py --corpus-dir corpus/clinpt/iterative --recipes weighted,weighted+pretrained \\
        --pretrained training/pretrain/model-last.bin --results benchmarks/results/pretraining.md
    python benchmarks/training_recipes.py --corpus-dir corpus/clinpt/iterative --recipes weighted,weighted+continued \\
        --base training/nestedclinbr/cnn_BIOE/model-best --results benchmarks/results/continue_training.md

A recipe (`RECIPES`) is a config and `spacy train` overrides. Per recipe and training seed, one `spacy train` run
in a subprocess into `<runs>/<recipe>_s<seed>` (a folder that already holds `model-best` is reused, so the script
resumes, and several invocations can share runs); each `model-best` is evaluated on the test set with
`evaluate_pipeline`, spancat's threshold chosen on dev by exact-span F1 (shared, and per label). The results file
has, per recipe, token (IO) and exact-span micro and macro F1 as mean ± sd, the labels never predicted, and per label
exact-span F1 and the proposals' recall ceiling; with machine, data and commit. The JSON beside it has every run.
`--pretrained` is the `model-last.bin` of `spacy pretrain configs/pretrain_cnn.cfg` (`weasel run pretrain`);
`--base` a pipeline folder or an installed package name to continue from (configs/continue_cnn.cfg).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Optional

import spacy
import typer

from spacy_clinical_pt.compare import mean_sd
from spacy_clinical_pt.convert import load_docs
from spacy_clinical_pt.evaluate import evaluate_pipeline, label_matrix_name
from spacy_clinical_pt.results import git_commit, sha256_of

from provenance import date_line, machine_line, write_results  # beside this script

REPO = Path(__file__).resolve().parents[1]
TWO_STAGE = "configs/cnn_tagger_spancat.cfg"
WEIGHTED = ["--components.spancat.class_weighting", "inverse_label_freq"]
# name: (config, overrides); {pretrained} and {base} are filled from the options.
RECIPES: dict[str, tuple[str, list[str]]] = {
    "default": (TWO_STAGE, []),
    "weighted": (TWO_STAGE, WEIGHTED),
    "weighted-power1": (TWO_STAGE, [*WEIGHTED, "--components.spancat.class_weight_power", "1.0"]),
    "weighted-wide": (TWO_STAGE, [*WEIGHTED, "--components.tok2vec.model.encode.width", "128",
                                  "--components.tok2vec.model.embed.rows", "[10000,2000,5000,5000]"]),
    "weighted+focal": (TWO_STAGE, [*WEIGHTED, "--components.spancat.focal_gamma", "2.0"]),
    "weighted+oversampling": (TWO_STAGE, [*WEIGHTED, "--corpora.train.@readers", "spacy_clinical_pt.OversampledCorpus.v1"]),
    "weighted+pretrained": (TWO_STAGE, [*WEIGHTED, "--paths.init_tok2vec", "{pretrained}"]),
    "weighted+continued": ("configs/continue_cnn.cfg", [*WEIGHTED, "--paths.base_model", "{base}"]),
}
FIGURES = {"token_micro_f1": "token IO micro F1", "token_macro_f1": "token IO macro F1",
           "strict_micro_f1": "exact-span micro F1", "strict_macro_f1": "exact-span macro F1"}


def train(recipe: str, seed: int, corpus: Path, limits: tuple[int, int], fill: dict[str, str], run_dir: Path) -> Path:
    """Train `recipe` with `seed` (limits: max steps, patience) into run_dir, unless already trained; RETURNS
    model-best."""
    if (run_dir / "model-best").is_dir():
        typer.echo(f"{run_dir.name}: reusing the trained pipeline")
        return run_dir / "model-best"
    config, overrides = RECIPES[recipe]
    command = [
        sys.executable, "-m", "spacy", "train", str(REPO / config), "--output", str(run_dir),
        "--paths.train", str(corpus / "train.spacy"), "--paths.dev", str(corpus / "dev.spacy"),
        "--system.seed", str(seed), "--training.max_steps", str(limits[0]), "--training.patience", str(limits[1]),
        *(o.format(**fill) for o in overrides),
    ]
    typer.echo(f"{run_dir.name}: training ({' '.join(command[4:])})")
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "train.log", "w", encoding="utf8") as log:
        subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True, cwd=REPO)
    return run_dir / "model-best"


def evaluate(model: Path, corpus: Path, output: Path, per_label: bool) -> dict:
    """The test metrics of `model` (thresholds chosen on dev), computed once and kept in output/metrics.json."""
    saved = output / "metrics.json"
    if not saved.is_file():
        nlp = spacy.load(model)
        test, dev = (list(load_docs(corpus / f"{name}.spacy", nlp)) for name in ("test", "dev"))
        metrics = evaluate_pipeline(nlp, test, dev, per_label=per_label).metrics
        output.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf8")
    return json.loads(saved.read_text(encoding="utf8"))


def figures(metrics: dict) -> dict:
    """The run's figures: token (IO) and exact-span micro and macro F1; per label exact-span F1 and the share of
    its gold spans that were proposed (the recall ceiling)."""
    token = metrics["token"][label_matrix_name(metrics["scheme"])]
    strict = metrics["entity"]["strict"]
    ceiling = metrics.get("candidates", {}).get("per_label", {})
    return {
        **{key: (token if key.startswith("token") else strict)[key.split("_")[1]]["f1"] for key in FIGURES},
        "per_label": {
            label: {"strict_f1": scores["f1"], "proposed": ceiling.get(label, {}).get("recall")}
            for label, scores in strict["per_label"].items()
        },
    }


def cell(values: list) -> str:
    """mean ± sd of the values that exist, "–" if none."""
    mean, sd, n = mean_sd([v for v in values if v is not None])
    if mean is None:
        return "–"
    return f"{mean:.3f}" + (f" ± {sd:.3f}" if sd is not None else "") + ("" if n > 1 else " (1 run)")


def tables(runs: dict[str, list[dict]], train_counts: dict[str, int]) -> list[str]:
    """One row per recipe (the four figures and the labels some seed never predicted), then one row per label."""
    names = list(runs)
    lines = ["| recipe | runs | " + " | ".join(FIGURES.values()) + " | labels at 0 F1 (in any run) |",
             "|---|---|" + "---|" * len(FIGURES) + "---|"]
    for name, rows in runs.items():
        zero = sorted({label for r in rows for label, s in r["per_label"].items() if s["strict_f1"] == 0.0})
        lines.append(f"| {name} | {len(rows)} | " + " | ".join(cell([r[f] for r in rows]) for f in FIGURES)
                     + f" | {', '.join(zero) or 'none'} |")
    labels = sorted({label for rows in runs.values() for r in rows for label in r["per_label"]})
    lines += ["", "Exact-span F1 per label (proposals' recall ceiling in brackets):", "",
              "| label | train entities | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for label in labels:
        cells = []
        for name in names:
            rows = [r["per_label"][label] for r in runs[name] if label in r["per_label"]]
            cells.append(f"{cell([r['strict_f1'] for r in rows])} [{cell([r['proposed'] for r in rows])}]")
        lines.append(f"| {label} | {train_counts.get(label, 0)} | " + " | ".join(cells) + " |")
    return lines


def _listed(text: str, kind: type) -> list:
    """The comma-separated items of an option."""
    try:
        return [kind(item.strip()) for item in text.split(",") if item.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r}: a comma-separated list of {kind.__name__}") from None


def main(
    corpus_dir: Annotated[Path, typer.Option(help="Folder with the split's train/dev/test.spacy.")],
    recipes: Annotated[str, typer.Option(help=f"Recipes to run, comma-separated: {', '.join(RECIPES)}.")],
    seeds: Annotated[str, typer.Option(help="Training seeds, comma-separated.")] = "0,1,2",
    steps: Annotated[int, typer.Option(help="Training steps of each run (the main job's).")] = 4500,
    patience: Annotated[int, typer.Option(help="Steps without improvement on dev that stop a run.")] = 1600,
    per_label_thresholds: Annotated[bool, typer.Option(help="Choose spancat's thresholds per label on dev.")] = False,
    pretrained: Annotated[Optional[Path], typer.Option(help="spacy pretrain's weights (model-last.bin).")] = None,
    base: Annotated[Optional[str], typer.Option(help="Pipeline to continue from: a folder or a package.")] = None,
    runs_dir: Annotated[Path, typer.Option(help="Folder of the run folders.")] = Path("training/recipes"),
    results: Annotated[Path, typer.Option(help="Markdown results file (the JSON beside it).")] = Path(
        "benchmarks/results/rare_labels.md"),
) -> None:
    """Train and evaluate each recipe over the seeds on one split; write the comparison."""
    recipes, seeds = _listed(recipes, str), _listed(seeds, int)
    unknown = [r for r in recipes if r not in RECIPES]
    if unknown:
        raise typer.BadParameter(f"{', '.join(unknown)}: recipes are {', '.join(RECIPES)}", param_hint="--recipes")
    corpus = corpus_dir.resolve()
    for name in ("train", "dev", "test"):
        if not (corpus / f"{name}.spacy").is_file():
            raise typer.BadParameter(f"{corpus / name}.spacy is missing", param_hint="--corpus-dir")
    fill = {"pretrained": str(pretrained.resolve()) if pretrained else "", "base": str(base or "")}
    for recipe, key in (("weighted+pretrained", "pretrained"), ("weighted+continued", "base")):
        if recipe in recipes and not fill[key]:
            raise typer.BadParameter(f"recipe {recipe} needs --{key}", param_hint=f"--{key}")
    if "weighted+pretrained" in recipes and not spacy.util.load_config(REPO / TWO_STAGE)["pretraining"].get("component"):
        # spaCy then skips init_tok2vec without a word: the pretrained runs would be runs from scratch.
        raise typer.BadParameter(f"{TWO_STAGE}: [pretraining] names no component to load the weights into")
    runs: dict[str, list[dict]] = {}
    for recipe in recipes:
        for seed in seeds:
            run_dir = runs_dir.resolve() / f"{recipe}_s{seed}"
            model = train(recipe, seed, corpus, (steps, patience), fill, run_dir)
            metrics = evaluate(model, corpus, run_dir / ("eval_per_label" if per_label_thresholds else "eval"),
                               per_label_thresholds)
            row = figures(metrics) | {"seed": seed, "run": str(run_dir)}
            typer.echo(f"{recipe} seed {seed}: " + ", ".join(f"{t} {row[f]:.3f}" for f, t in FIGURES.items()))
            runs.setdefault(recipe, []).append(row)
    nlp = spacy.blank("pt")
    train_counts: dict[str, int] = {}
    for doc in load_docs(corpus / "train.spacy", nlp):
        for span in doc.spans.get("sc", []):
            train_counts[span.label_] = train_counts.get(span.label_, 0) + 1
    data = ", ".join(f"{name} {sha256_of(corpus / f'{name}.spacy')[:16]}" for name in ("train", "dev", "test"))
    provenance = [
        date_line(), f"- commit: {git_commit(REPO)}", machine_line(),
        f"- data: {corpus} (sha256 prefixes: {data})",
        f"- seeds {', '.join(map(str, seeds))}; at most {steps} training steps, patience {patience}; thresholds: spancat's, chosen on dev by "
        f"exact-span F1 ({'per label' if per_label_thresholds else 'shared'}); figures on the test set",
        *(f"- {name}: {RECIPES[name][0]} {' '.join(o.format(**fill) for o in RECIPES[name][1])}".rstrip()
          for name in recipes),
        "- token = IO token x label F1; exact-span = exact boundaries and label; macro over the labels of the test set",
    ]
    title = "# Training recipes on one split: " + ", ".join(recipes)
    write_results(results, [title, "", *tables(runs, train_counts), "", *provenance, "",
                            "Written by `python benchmarks/training_recipes.py`."])
    summary = {name: {f: mean_sd([r[f] for r in rows]) for f in FIGURES} for name, rows in runs.items()}
    results.with_suffix(".json").write_text(
        json.dumps({"runs": runs, "summary": summary, "provenance": provenance}, indent=2) + "\n", encoding="utf8")


if __name__ == "__main__":
    typer.run(main)
