"""The `spacy-clinical-pt` command line (also `python -m spacy_clinical_pt`).

Each subcommand lives beside the code it drives and is only registered here.
"""

import typer

from .annotate import annotate_command
from .compare import aggregate_command, compare_command
from .convert.cli import convert_command, export_command
from .evaluate import evaluate_command
from .llm.baseline import annotate_silver_command, llm_baseline_command
from .package import package_command
from .split import split_command
from .stats import stats_command

app = typer.Typer(
    name="spacy-clinical-pt",
    help="Clinical NER for Portuguese with spaCy: convert corpora, inspect and split them, train and evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # never print clinical text held in local variables
)
app.command("convert")(convert_command)
app.command("export")(export_command)
app.command("stats")(stats_command)
app.command("evaluate")(evaluate_command)
app.command("aggregate")(aggregate_command)
app.command("compare")(compare_command)
app.command("annotate")(annotate_command)
app.command("package")(package_command)
app.command("llm-baseline")(llm_baseline_command)
app.command("annotate-silver")(annotate_silver_command)
# `--ratios 0.6 0.2 0.2`: the values after the first reach the command as extra arguments.
app.command("split", context_settings={"allow_extra_args": True, "ignore_unknown_options": False})(split_command)


def main() -> None:
    app()
