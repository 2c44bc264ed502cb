"""scripts/main.sh: its demo step (annotate an example note with the packaged pipeline) runs again on a rerun."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

from helpers import REPO
from helpers.pipelines import untrained_pipeline


def demo_annotation() -> tuple[list[str], str]:
    """The `annotate` call of scripts/main.sh: its arguments after `python -m spacy_clinical_pt`, and the note it
    reads on stdin."""
    script = (REPO / "scripts" / "main.sh").read_text(encoding="utf8")
    match = re.search(r"^python -m spacy_clinical_pt (annotate .*) <<'NOTE'\n(.*?)^NOTE$", script, re.M | re.S)
    assert match, "scripts/main.sh has no `python -m spacy_clinical_pt annotate ... <<'NOTE'` step"
    return shlex.split(match.group(1)), match.group(2)


def test_the_demo_annotation_of_main_sh_replaces_the_html_of_an_earlier_run(tmp_path):
    """A second run of main.sh (which reuses what is up to date) must not stop at the demo: annotate refuses an
    existing output without --overwrite, and the demo's HTML is there from the first run."""
    args, note = demo_annotation()
    assert args[:2] == ["annotate", "pt_clinical_cnn"]
    args[1] = str(untrained_pipeline(tmp_path))  # the installed pt_clinical_cnn in main.sh
    html = tmp_path / "metrics" / "demo" / "example_note.html"
    html.parent.mkdir(parents=True)
    html.write_text("the first run's page", encoding="utf8")
    result = subprocess.run([sys.executable, "-m", "spacy_clinical_pt", *args], input=note, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    page = html.read_text(encoding="utf8")
    assert page.startswith("<!DOCTYPE html>") and "clopidogrel" in page
