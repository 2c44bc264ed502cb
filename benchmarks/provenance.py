"""The provenance lines every results file in `benchmarks/results/` starts its list with: when, and on what machine.

Kept beside the scripts, not in the package: a benchmark may measure an older copy of `spacy_clinical_pt` put first
on PYTHONPATH, and these lines must not depend on it.
"""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

import spacy


def date_line() -> str:
    """`- date: <now, UTC, ISO 8601>`."""
    return f"- date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}"


def machine_line() -> str:
    """`- machine: <host>, <platform>, <cores>, <Python and spaCy versions>`."""
    return (
        f"- machine: {platform.node()}, {platform.platform()}, {os.cpu_count()} CPU cores, Python "
        f"{platform.python_version()}, spaCy {spacy.__version__}"
    )


def write_results(path: Path, lines: list[str]) -> None:
    """Write a results file (its folder made) and print it."""
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf8")
    print(text)
