"""The `spacy-clinical-pt` command line (also `python -m spacy_clinical_pt`).

One module per command in this package (as `spacy/cli/`), each a thin typer wrapper over library functions that
never import typer. The app loads a command's module only when that command runs or shows its help, so
`spacy-clinical-pt --help` does not wait for spaCy, torch or matplotlib. Exit codes (`_util`): 0 success; 1 error
(bad input: nothing written, or the output is not valid); 2 usage error (typer's own); 3 partial success (some
inputs were skipped and reported, the rest written); 130 interrupted.
"""

import importlib
from typing import NamedTuple, Optional

import click
import typer
from typer.core import TyperGroup

from ._util import run_app


class Command(NamedTuple):
    """Where a command lives, loaded on first use. module: under this package. function: its typer callback.
    help: the line `--help` lists it with (its docstring's first line, kept equal by a test)."""

    module: str
    function: str
    help: str


COMMANDS: dict[str, Command] = {
    "convert": Command("convert", "convert_command", "Convert an annotated corpus into a spaCy DocBin with every entity (nested, overlapping) in doc.spans."),
    "export": Command("export", "export_command", "Export documents (gold or predicted) to BRAT standoff or JSON spans, with character offsets."),
    "stats": Command("stats", "stats_command", "Describe a corpus: notes, tokens, entities per label, nesting."),
    "split": Command("split", "split_command", "Split a corpus at document level into train/dev/test and report the label distribution per split."),
    "evaluate": Command("evaluate", "evaluate_command", "Evaluate a trained pipeline on gold notes."),
    "aggregate": Command("aggregate", "aggregate_command", "Aggregate evaluation runs over seeds."),
    "compare": Command("compare", "compare_command", "Compare models run for run: tables, tests and PR curves."),
    "annotate": Command("annotate", "annotate_command", "Annotate notes with a pipeline."),
    "package": Command("package", "package_command", "Package a trained pipeline as an installable wheel."),
    "llm-baseline": Command("llm_baseline", "llm_baseline_command", "Evaluate an LLM pipeline on gold notes."),
    "annotate-silver": Command("annotate_silver", "annotate_silver_command",
                               "Annotate notes with an LLM pipeline: a silver corpus."),
    "encoders": Command("encoders", "encoders_command", "List the encoders or resolve one to its model name."),
    "llm-presets": Command("llm_presets", "llm_presets_command", "Write the LLM pipeline configs of the presets."),
    "notes": Command("notes", "notes_command", "Collect the texts of notes into JSONL, for pretraining on unlabelled notes."),
    "pretrain-mlm": Command("pretrain_mlm", "pretrain_mlm_command",
                            "Continue a transformer's masked-language-model training on notes."),
}


class LazyGroup(TyperGroup):
    """A typer group that imports a command's module when the command is asked for, and lists the commands
    from `COMMANDS` without importing any."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *(name for name in super().list_commands(ctx) if name not in COMMANDS)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> Optional[click.Command]:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        entry = COMMANDS[cmd_name]
        module = importlib.import_module(f"{__name__}.{entry.module}")
        single = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
        single.command(cmd_name)(getattr(module, entry.function))
        command = typer.main.get_command(single)
        command.name = cmd_name
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, entry.help) for name, entry in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


app = typer.Typer(
    name="spacy-clinical-pt",
    cls=LazyGroup,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # the list of commands is printed by click, without loading rich
    pretty_exceptions_show_locals=False,  # never print clinical text held in local variables
)


@app.callback()
def _root() -> None:
    """Clinical NER for Portuguese with spaCy: convert corpora, inspect and split them, train and evaluate."""


def main() -> None:
    """Run the command line (the console script `spacy-clinical-pt`)."""
    run_app(app)
