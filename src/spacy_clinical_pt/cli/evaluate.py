"""The `evaluate` command: a thin wrapper over `spacy_clinical_pt.evaluate`."""

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._util import GPU_ID_HELP, fail, use_gpu


class ThresholdPolicy(str, Enum):
    dev = "dev"
    oracle = "oracle"
    fixed = "fixed"


class ThresholdObjective(str, Enum):
    token = "token"
    entity = "entity"


def evaluate_command(
    model: Annotated[
        str, typer.Argument(help="The pipeline: a directory (e.g. training/model-best) or a package name.")
    ],
    test: Annotated[Path, typer.Argument(help="Gold test set, a .spacy DocBin written by `convert`/`split`.")],
    dev: Annotated[
        Optional[Path], typer.Option("--dev", help="Gold dev set (.spacy) to choose the threshold on (policy dev).")
    ] = None,
    threshold_policy: Annotated[
        ThresholdPolicy,
        typer.Option(
            "--threshold-policy",
            help="dev: choose on --dev, apply to test; oracle: choose on test (the paper's way, optimistic); "
            "fixed: use --threshold or the pipeline's own.",
        ),
    ] = ThresholdPolicy.dev,
    per_label_thresholds: Annotated[
        bool, typer.Option("--per-label-thresholds", help="One threshold per label instead of one shared.")
    ] = False,
    threshold_objective: Annotated[
        ThresholdObjective,
        typer.Option(
            "--threshold-objective",
            help="What the dev/oracle threshold maximises: token (token micro F1, the paper) or entity "
            "(exact-span F1, for span output).",
        ),
    ] = ThresholdObjective.token,
    tune_continue_threshold: Annotated[
        bool,
        typer.Option(
            "--tune-continue-threshold",
            help="BIO/BIOE, with --threshold-objective entity: choose the start threshold and the (lower) threshold "
            "an I needs to continue a span together, by exact-span F1.",
        ),
    ] = False,
    threshold: Annotated[
        Optional[str],
        typer.Option("--threshold", help="Policy fixed: a value (0.4) or per label (Problema=0.4,Anatomia=0.3)."),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for metrics.json, report.md, curves.")] = Path(
        "evaluation"
    ),
    seed: Annotated[
        Optional[int], typer.Option("--seed", help="The run's seed, recorded (and fixed) for provenance.")
    ] = None,
    name: Annotated[
        Optional[str], typer.Option("--name", help="Model name in aggregate/compare tables (default: pipeline name).")
    ] = None,
    corpus: Annotated[
        Optional[str], typer.Option("--corpus", help="Corpus name in tables (default: the test file's folder name).")
    ] = None,
    gold_key: Annotated[str, typer.Option("--gold-key", help="doc.spans key of the gold entities.")] = "sc",
    spans_key: Annotated[
        Optional[str], typer.Option("--spans-key", help="doc.spans key the pipeline writes (default: its own, or sc).")
    ] = None,
    component: Annotated[
        Optional[str], typer.Option("--component", help="Name of the clinical_tagger to tune (default: the last one).")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Documents per nlp.pipe batch.")] = 32,
    gpu_id: Annotated[int, typer.Option("--gpu-id", help=GPU_ID_HELP)] = -1,
) -> None:
    """Evaluate a trained pipeline on gold notes.

    Longer than 80 lines only by its typer options; the work is `evaluate.evaluate_pipeline` and `write_outputs`.
    """
    import spacy
    from tqdm import tqdm

    from ..evaluate import evaluate_pipeline, load_gold, provenance, threshold_text, writable_folder, write_outputs
    from ..pipes import load_pipeline
    from ..thresholds import Thresholds

    use_gpu(gpu_id)
    if seed is not None:
        spacy.util.fix_random_seed(seed)
    policy = threshold_policy.value
    if dev is not None and policy != "dev":
        typer.echo(f"note: --dev is only read by the dev policy; ignored with {policy}", err=True)
    if threshold is not None and policy != "fixed":
        typer.echo(f"note: --threshold is only read by the fixed policy; ignored with {policy}", err=True)

    def progress(docs, total, desc):
        return tqdm(docs, total=total, desc=desc, unit="doc", disable=None)

    try:
        fixed = Thresholds.parse(threshold) if threshold is not None else None
        nlp = load_pipeline(model)
        test_docs = load_gold(test, nlp, gold_key)
        dev_docs = load_gold(dev, nlp, gold_key) if dev is not None and policy == "dev" else None
        writable_folder(output)
        evaluation = evaluate_pipeline(
            nlp, test_docs, dev_docs, policy=policy, per_label=per_label_thresholds, threshold=fixed,
            gold_key=gold_key, spans_key=spans_key, component=component, batch_size=batch_size,
            objective=threshold_objective.value, tune_continue=tune_continue_threshold, progress=progress,
        )
        metrics = evaluation.metrics
        metrics["provenance"] = provenance(
            nlp, model, {"test": test, "dev": dev if dev_docs is not None else None}, seed=seed, label=name,
            corpus=corpus,
        )
        metrics["provenance"]["threshold_policy"] = metrics["threshold"]["description"]
        try:
            written = write_outputs(evaluation, output)
        except OSError as err:
            raise ValueError(f"{output}: cannot write the results there ({err.strerror or err})") from None
    except ValueError as err:
        fail(str(err))
    section, scheme = metrics["threshold"], metrics.get("scheme") or "IO"
    token, strict = metrics["token"][scheme], metrics["entity"]["strict"]["micro"]
    typer.echo(f"pipeline: {metrics['pipeline_setup']['name']}")
    typer.echo(f"threshold: {threshold_text(section)} — {section['description']}")
    typer.echo(
        f"token {scheme}: micro F1 {token['micro']['f1']:.4f}, macro F1 {token['macro']['f1']:.4f}; "
        f"entity strict micro F1 {strict['f1']:.4f}"
    )
    typer.echo("wrote " + ", ".join(str(p) for p in written))
