"""The `compare` command: tests, Table 5 and PR curves across models (`spacy_clinical_pt.compare.compare`)."""

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ._util import fail
from .aggregate import GROUP_BY_HELP, GroupBy


class PerLabelMetric(str, Enum):
    token = "token"
    strict = "strict"
    partial = "partial"


def compare_command(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run folders, each with the metrics.json of `evaluate`.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for table5, stats and the PR figure.")] = Path(
        "compare"
    ),
    metric: Annotated[
        PerLabelMetric,
        typer.Option("--metric", help="Per-label F1 for the tests: token level, or entity strict/partial."),
    ] = PerLabelMetric.token,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level after Holm's correction.")] = 0.05,
    group_by: Annotated[GroupBy, typer.Option("--group-by", help=GROUP_BY_HELP)] = GroupBy.label,
) -> None:
    """Compare models run for run: tables, tests and PR curves.

    Friedman + pairwise Wilcoxon (Holm) over per-label F1, Table 5, combined PR curves.
    """
    from ..compare import compare

    try:
        result, written = compare(run_dirs, output, metric.value, alpha, group_by.value)
    except (FileNotFoundError, ValueError) as err:
        fail(str(err))
    f = result["friedman"]
    typer.echo(f"Friedman chi2 = {f['statistic']:.4f}, p = {f['pvalue']:.4g} over {len(result['blocks'])} blocks")
    for row in result["pairwise"]:
        typer.echo(f"  {row['a']} vs {row['b']}: p = {row['pvalue']:.4g}, Holm p = {row['pvalue_holm']:.4g}")
    typer.echo(f"wrote {', '.join(str(output / w) for w in written)}")
