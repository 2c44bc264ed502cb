"""The `llm-baseline` command: an LLM pipeline evaluated like a trained one (`spacy_clinical_pt.llm.baseline`)."""

from pathlib import Path
from typing import Annotated, Any, Mapping, Optional, Sequence

import typer

from ._util import EXIT_PARTIAL, fail

# How many failed notes or units the console names (all of them are in usage.csv or the report).
NAMED_FAILURES = 5

# Options llm-baseline and annotate-silver take.
ExamplesOption = Annotated[
    Optional[Path],
    typer.Option("--examples", help="Training DocBin the few-shot example is drawn from (paths.examples)."),
]
AllowRemoteOption = Annotated[
    bool, typer.Option("--allow-remote", help="Opt in to sending the notes to a remote API (the config's host).")
]
OverridesOption = Annotated[
    Optional[list[str]],
    typer.Option("--set", help="Config override key=value (repeatable), e.g. components.llm.model.name=MODEL."),
]


def llm_baseline_command(
    config: Annotated[Path, typer.Argument(help="spacy-llm config, e.g. configs/llm/local.cfg.")],
    test: Annotated[Path, typer.Argument(help="Gold test set, a .spacy DocBin written by `convert`/`split`.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for metrics.json, report.md, usage.csv, "
                                         "table4.md.")] = Path("metrics/llm"),
    examples: ExamplesOption = None,
    allow_remote: AllowRemoteOption = False,
    name: Annotated[
        Optional[str],
        typer.Option("--name", help="Model name in aggregate/compare tables (default: model-effort)."),
    ] = None,
    corpus: Annotated[
        Optional[str], typer.Option("--corpus", help="Corpus name in tables (default: the test file's folder name).")
    ] = None,
    limit: Annotated[
        Optional[int], typer.Option("--limit", min=1, help="Only the first N notes (a cheap trial run).")
    ] = None,
    gold_key: Annotated[str, typer.Option("--gold-key", help="doc.spans key of the gold entities.")] = "sc",
    overrides: OverridesOption = None,
) -> None:
    """Evaluate an LLM pipeline on gold notes.

    Runs it over a test set and evaluates it like a trained pipeline, with its cost and errors. Exits 3 when some
    notes got no reply (scored as finding nothing; a rerun asks for them again), 1 on bad input.
    """
    from ..llm.baseline import load_llm_pipeline, parse_overrides, run_baseline
    from ..llm.cache import check_writable

    try:
        check_writable(output, "--output", "give another folder")
        nlp = load_llm_pipeline(config, parse_overrides(overrides or []), allow_remote, examples)
        run = run_baseline(nlp, test, output, config=config, examples=examples, name=name, corpus=corpus,
                           limit=limit, gold_key=gold_key)
    except (ValueError, OSError) as err:
        fail(str(err))
    _echo_baseline(run.section, run.metrics, run.notes, run.written)
    if run.failed:
        typer.echo(failures_line(run.failed, "note", "without a reply, scored as finding nothing"), err=True)
        raise typer.Exit(EXIT_PARTIAL)


def _echo_baseline(section: Mapping[str, Any], metrics: Mapping[str, Any], notes: int, written: list[Path]) -> None:
    """The console summary of an llm-baseline run."""
    from ..llm.table4 import count, figure

    usage, extraction = section["usage"], section["extraction"]
    token = metrics["token"]["IO"]
    strict = metrics["entity"]["strict"]["micro"]
    cost = usage["cost_per_1000_responses_usd"]
    typer.echo(
        f"{section['label']}: {count(usage['responses'], 'reply')} to {count(notes, 'note')} "
        f"({usage['cached_responses']} from the cache), {count(usage['request_errors'], 'request error')}, "
        f"{count(extraction['parse_errors'], 'unparsable reply')}"
    )
    typer.echo(
        f"entity strict micro F1 {strict['f1']:.4f}; token IO micro F1 {token['micro']['f1']:.4f}, "
        f"macro F1 {token['macro']['f1']:.4f}"
    )
    typer.echo(f"hallucinations {extraction['hallucinations']}, type errors {extraction['type_errors']}")
    typer.echo(
        f"mean {figure(usage['mean_time_s'], '{:.1f}')} s, {figure(usage['mean_total_tokens'], '{:,.0f}')} tokens, "
        + (f"US${cost:.2f} per 1,000 replies (list prices of {usage['price_date']})" if cost is not None
           else "no price")
    )
    typer.echo("wrote " + ", ".join(str(p) for p in written))


def failures_line(failed: Sequence[tuple[str, str]], noun: str, what: str) -> str:
    """The console line naming failed notes or units: "2 notes without a reply, ... (rerun to retry them): n2:
    HTTP 500 ...; n7: timeout". failed: (id, reason) pairs, the first NAMED_FAILURES named. what: follows the
    counted noun."""
    from ..llm.table4 import count

    named = "; ".join(f"{identifier}: {reason}" for identifier, reason in failed[:NAMED_FAILURES])
    more = f"; and {len(failed) - NAMED_FAILURES} more" if len(failed) > NAMED_FAILURES else ""
    them = "it" if len(failed) == 1 else "them"
    return f"{count(len(failed), noun)} {what} (rerun to retry {them}): {named}{more}"
