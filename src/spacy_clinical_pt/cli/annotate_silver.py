"""The `annotate-silver` command: an LLM labels unlabelled notes into a silver corpus (`spacy_clinical_pt.llm.silver`)."""

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._util import EXIT_PARTIAL, fail
from .llm_baseline import AllowRemoteOption, ExamplesOption, OverridesOption, failures_line


class UnitKind(str, Enum):
    note = "note"
    sentence = "sentence"


def annotate_silver_command(
    config: Annotated[Path, typer.Argument(help="spacy-llm config, e.g. configs/llm/local.cfg.")],
    unlabelled: Annotated[
        Path, typer.Argument(help="Notes: a folder of .txt, one .txt, a .jsonl with 'text' (and 'id'), or a .spacy.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The silver DocBin to write (.spacy).")],
    unit: Annotated[UnitKind, typer.Option("--unit", help="Send whole notes or sentences.")] = UnitKind.note,
    min_chars: Annotated[
        int, typer.Option("--min-chars", min=0, help="Drop units shorter than this (characters) before sending.")
    ] = 15,
    keep_empty: Annotated[
        bool, typer.Option("--keep-empty/--drop-empty", help="Keep units where the LLM found no entity.")
    ] = False,
    examples: ExamplesOption = None,
    allow_remote: AllowRemoteOption = False,
    report_path: Annotated[
        Optional[Path], typer.Option("--report", help="Write the counts (no text) to this JSON file.")
    ] = None,
    limit: Annotated[
        Optional[int], typer.Option("--limit", min=1, help="Send at most N units (a cheap trial run).")
    ] = None,
    overrides: OverridesOption = None,
) -> None:
    """Annotate notes with an LLM pipeline: a silver corpus.

    A silver training DocBin filtered as seed 003, with the counts reported. Exits 3 when some units failed (listed
    in the report; a rerun asks for them again), 1 on bad input.
    """
    from tqdm import tqdm

    from ..llm.baseline import load_llm_pipeline, parse_overrides
    from ..llm.cache import check_writable
    from ..llm.silver import SilverReport, annotate_silver, read_unlabelled, split_units, write_silver

    try:
        check_writable(output, "--output", "give another file", folder=False)
        if report_path is not None:
            check_writable(report_path, "--report", "give another file", folder=False)
        notes, removed = read_unlabelled(unlabelled)
        nlp = load_llm_pipeline(config, parse_overrides(overrides or []), allow_remote, examples)
        units = list(split_units(notes, unit.value))
    except (ValueError, OSError) as err:
        fail(str(err))
    report = SilverReport(notes=len(notes), gold_spans_removed=removed)
    docs, report = annotate_silver(
        nlp, units, min_chars=min_chars, keep_empty=keep_empty, limit=limit, report=report,
        progress=lambda pairs, total: tqdm(pairs, total=total, desc="silver", unit="unit", disable=None),
    )
    try:
        write_silver(docs, report, output, report_path)
    except OSError as err:
        fail(str(err))
    typer.echo(report.summary())
    if removed:
        typer.echo("gold spans removed from the input: " + ", ".join(f"{k} {v}" for k, v in removed.items()))
    typer.echo(f"wrote {output} ({report.kept} docs)" + (f" and {report_path}" if report_path else ""))
    if report.failed:
        failed = [(entry["doc_id"], entry["reason"]) for entry in report.failed]
        typer.echo(failures_line(failed, "unit", "failed, no entities read"), err=True)
        raise typer.Exit(EXIT_PARTIAL)
