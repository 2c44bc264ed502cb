"""The `aggregate` command: mean ± sd of each model's metrics over runs (`spacy_clinical_pt.compare.aggregate`)."""

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ._util import fail

GROUP_BY_HELP = "label: the run's model name (evaluate --name, else the pipeline's); parent: the run folder's parent."


class GroupBy(str, Enum):
    label = "label"
    parent = "parent"


def aggregate_command(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run folders, each with the metrics.json of `evaluate`.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for aggregate.md, .csv and .json.")] = Path(
        "aggregate"
    ),
    group_by: Annotated[GroupBy, typer.Option("--group-by", help=GROUP_BY_HELP)] = GroupBy.label,
) -> None:
    """Aggregate evaluation runs over seeds.

    Mean ± standard deviation of each model's metrics (the paper's Table 6) in aggregate.md, .csv and .json.
    """
    from ..compare import aggregate, pm

    try:
        rows = aggregate(run_dirs, output, group_by.value)
    except (FileNotFoundError, ValueError) as err:
        fail(str(err))
    for r in rows:
        typer.echo(
            f"{r['model']} {r['corpus']} {r['pipeline']} {r['policy']} (n={r['runs']}): "
            f"macro F1 {pm(r['token_macro_f1_mean'], r['token_macro_f1_sd'])}, "
            f"micro F1 {pm(r['token_micro_f1_mean'], r['token_micro_f1_sd'])}"
        )
    typer.echo(f"wrote {output / 'aggregate.md'}, aggregate.csv, aggregate.json")
