"""How long `spacy-clinical-pt --help` takes beside `python -m spacy --help`, in one run (issue 14: at most 1.2x).

    python benchmarks/cli_startup.py [--repeats 7]

Each command runs `--repeats` times in a fresh process, alternating, so both see the same machine load; the best
(minimum) wall time of each is compared, and the median is printed too. Also timed: `spacy-clinical-pt evaluate
--help` (a command's help loads only its own module) and `import spacy_clinical_pt.cli`. Writes
`benchmarks/results/cli_startup.md` with the date, machine and commit.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import date_line, machine_line, write_results  # noqa: E402  (beside this script)

RESULTS = Path("benchmarks/results/cli_startup.md")
PYTHON = sys.executable
COMMANDS = {
    "python -m spacy --help": [PYTHON, "-m", "spacy", "--help"],
    "spacy-clinical-pt --help": [PYTHON, "-m", "spacy_clinical_pt", "--help"],
    "spacy-clinical-pt evaluate --help": [PYTHON, "-m", "spacy_clinical_pt", "evaluate", "--help"],
    "import spacy_clinical_pt.cli": [PYTHON, "-c", "import spacy_clinical_pt.cli"],
}


def wall_time(command: list[str]) -> float:
    """Seconds one run of `command` takes (it must exit 0)."""
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main(repeats: Annotated[int, typer.Option(help="Runs of each command (fresh processes).")] = 7) -> None:
    """Time the help of the command line against spaCy's and write the results file."""
    for command in COMMANDS.values():  # warm the file cache once, untimed
        wall_time(command)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(repeats):
        for name, command in COMMANDS.items():
            times[name].append(wall_time(command))
    spacy_best = min(times["python -m spacy --help"])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines = [
        "# Command-line start-up: `spacy-clinical-pt --help` against `python -m spacy --help`",
        "",
        date_line(),
        machine_line(),
        f"- commit: {commit or 'unknown'}",
        f"- method: `python benchmarks/cli_startup.py --repeats {repeats}`: each command {repeats} times in a "
        "fresh process, alternating; best and median wall time; ratio = best / best of `python -m spacy --help`",
        "",
        "| command | best s | median s | ratio to spaCy's help |",
        "|---|---|---|---|",
    ]
    for name, values in times.items():
        best = min(values)
        lines.append(f"| `{name}` | {best:.3f} | {statistics.median(values):.3f} | {best / spacy_best:.2f} |")
    write_results(RESULTS, lines)


if __name__ == "__main__":
    typer.run(main)
