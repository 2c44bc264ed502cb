"""The `spacy-clinical-pt` command line (also `python -m spacy_clinical_pt`).

Each subcommand lives beside the code it drives and is only registered here. Exit codes: 0 success; 1 error
(bad input: nothing written, or the output is not valid); 2 usage error (typer's own); 3 partial success (some
inputs were skipped and reported, the rest written); 130 interrupted.
"""

import os
import sys

import typer

from .annotate import annotate_command
from .compare import aggregate_command, compare_command
from .convert.cli import convert_command, export_command
from .corpus import EXCERPT_CHARS, one_line
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


# Set (to anything but "" or "0") to see the traceback of an unexpected error instead of one line.
DEBUG_VARIABLE = "SPACY_CLINICAL_PT_DEBUG"
EXIT_INTERRUPTED = 130  # what shells report for Ctrl-C (128 + SIGINT)
# Of an unexpected error's message: the excerpt limit of clinical text everywhere, as the message may quote a note.
MESSAGE_CHARS = EXCERPT_CHARS


def main() -> None:
    """Run the command line. The commands report bad input themselves; what escapes them is a bug, reported in
    one line (type, command, the start of the message) and exit 1: a traceback can print clinical text held in
    exception messages and in the source lines around the failure."""
    args = sys.argv[1:]
    command = next((arg for arg in args if not arg.startswith("-")), "spacy-clinical-pt")
    try:
        app()
    except SystemExit as exit_:
        if exit_.code == EXIT_INTERRUPTED:  # typer turns Ctrl-C (KeyboardInterrupt) into this exit code, silently
            _report_interrupted(command)
        raise
    except KeyboardInterrupt:  # Ctrl-C before typer's own handling starts (while the command line is built)
        _report_interrupted(command)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as error:
        if os.environ.get(DEBUG_VARIABLE, "") not in ("", "0"):
            raise
        message = one_line(str(error), MESSAGE_CHARS)
        typer.echo(f"error: unexpected {type(error).__name__} in {command}: {message}", err=True)
        typer.echo(f"this is a bug; rerun with {DEBUG_VARIABLE}=1 to see the traceback (it may show note text)",
                   err=True)
        sys.exit(1)


def _report_interrupted(command: str) -> None:
    typer.echo(f"interrupted: {command} stopped; files it was writing may be incomplete", err=True)
