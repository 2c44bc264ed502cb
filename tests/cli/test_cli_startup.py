"""The command line starts without loading what only the commands need (spaCy, torch, matplotlib, scikit-learn,
spacy-llm), and lists each command with its own docstring's first line."""

import importlib
import json
import subprocess
import sys

import pytest

from spacy_clinical_pt.cli import COMMANDS

HEAVY = ("spacy", "thinc", "torch", "numpy", "matplotlib", "sklearn", "scipy", "spacy_llm", "transformers")
PROBE = (
    "import runpy, sys\n"
    "sys.argv = ['spacy-clinical-pt', *{args!r}]\n"
    "try:\n"
    "    runpy.run_module('spacy_clinical_pt', run_name='__main__')\n"
    "except SystemExit:\n"
    "    pass\n"
    "import json\n"
    "print(json.dumps(sorted({{name.split('.')[0] for name in sys.modules}})), file=sys.stderr)\n"
)


def loaded_by(*args: str) -> set[str]:
    """The top-level modules loaded by `spacy-clinical-pt ARGS` (run as `python -m spacy_clinical_pt`)."""
    result = subprocess.run([sys.executable, "-c", PROBE.format(args=list(args))], capture_output=True, text=True,
                            timeout=120, check=True)
    return set(json.loads(result.stderr.strip().splitlines()[-1]))


def test_the_list_of_commands_loads_nothing_heavy():
    loaded = loaded_by("--help")
    assert "spacy_clinical_pt" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


@pytest.mark.parametrize("name", sorted(set(COMMANDS) - {"llm-presets", "encoders"}))
def test_a_command_help_loads_only_its_own_module(name):
    """`<command> --help` imports the command's module, not the libraries its work needs."""
    loaded = loaded_by(name, "--help")
    assert not loaded & {"torch", "matplotlib", "sklearn", "spacy_llm", "transformers"}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_is_listed_with_its_docstring_first_line(name):
    entry = COMMANDS[name]
    function = getattr(importlib.import_module(f"spacy_clinical_pt.cli.{entry.module}"), entry.function)
    assert entry.help == function.__doc__.strip().splitlines()[0]
