"""What every command of the `spacy-clinical-pt` command line shares: exit codes, `fail()` and `main()`.

Library modules never import typer: they raise (`corpus.ConversionError` for bad input, ValueError, OSError) and
the command modules in this package turn what they raise into one `error: ...` line and an exit code.
"""

import os
import sys
from typing import NoReturn

import typer

EXIT_OK = 0
EXIT_ERROR = 1  # bad input: nothing written, or the output is not valid
EXIT_USAGE = 2  # click/typer's own, for bad options
EXIT_PARTIAL = 3  # some inputs were skipped and reported, the rest written
EXIT_INTERRUPTED = 130  # what shells report for Ctrl-C (128 + SIGINT)

# Set (to anything but "" or "0") to see the traceback of an unexpected error instead of one line.
DEBUG_VARIABLE = "SPACY_CLINICAL_PT_DEBUG"


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Print `error: <message>` on stderr and leave the command with `code`.

    message: what went wrong and, where it helps, what to do; names the file (and line or offset), never quotes
        more clinical text than an excerpt. code: the exit code (1 unless said otherwise).
    """
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    """Print `warning: <message>` on stderr (the command goes on)."""
    typer.echo(f"warning: {message}", err=True)


def run_app(app: typer.Typer) -> None:
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
        from ..corpus import EXCERPT_CHARS, one_line  # here: `--help` must not wait for spaCy to load

        # The excerpt limit of clinical text everywhere, as the message may quote a note.
        message = one_line(str(error), EXCERPT_CHARS)
        typer.echo(f"error: unexpected {type(error).__name__} in {command}: {message}", err=True)
        typer.echo(f"this is a bug; rerun with {DEBUG_VARIABLE}=1 to see the traceback (it may show note text)",
                   err=True)
        sys.exit(EXIT_ERROR)


def _report_interrupted(command: str) -> None:
    typer.echo(f"interrupted: {command} stopped; files it was writing may be incomplete", err=True)


GPU_ID_HELP = "GPU to run the pipeline on; -1 (the default) for the CPU."


def use_gpu(gpu_id: int) -> None:
    """Run on GPU `gpu_id` (spaCy's `require_gpu`), or stay on the CPU for -1; a GPU that cannot be used is an
    error naming it (exit 1), not a fallback to the CPU."""
    if gpu_id < 0:
        return
    import spacy

    try:
        spacy.require_gpu(gpu_id)
    except (ValueError, ImportError, RuntimeError) as err:
        fail(f"--gpu-id {gpu_id}: {err}")
