"""`encoders`: the encoder keys and their Hugging Face ids, or the one name to pass as `--encoder.name`."""

import subprocess
import sys

from helpers import assert_clean_error, invoke
from spacy_clinical_pt.encoders import ENCODERS


def test_without_a_key_every_encoder_is_listed_with_its_hugging_face_id():
    result = invoke("encoders")
    assert result.exit_code == 0, result.output
    rows = [line.split(None, 2) for line in result.stdout.splitlines()]
    assert [row[0] for row in rows] == list(ENCODERS)
    ids = dict(row[:2] for row in rows)
    assert ids["mmbert_base"] == "jhu-clsp/mmBERT-base"
    assert ids["biobertpt_clin"] == "pucpr/biobertpt-clin"
    assert ids["cnn"] == "-"  # no pretrained weights
    assert rows[-1][2] == ENCODERS["cnn"].description


def test_a_key_prints_only_the_name_to_pass_as_encoder_name():
    result = invoke("encoders", "bertimbau-large")
    assert result.exit_code == 0, result.output
    assert result.stdout == "neuralmind/bert-large-portuguese-cased\n"


def test_the_console_command_prints_the_name_for_a_shell_substitution():
    """What project.yml and configs/transformer.cfg use: `--encoder.name "$(spacy-clinical-pt encoders KEY)"`."""
    done = subprocess.run([sys.executable, "-m", "spacy_clinical_pt", "encoders", "mmbert_small"],
                          capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "jhu-clsp/mmBERT-small\n", "")


def test_an_unknown_key_and_the_cnn_are_clean_errors():
    result = invoke("encoders", "gpt2")
    assert_clean_error(result, "unknown encoder 'gpt2'")
    assert result.stdout == ""
    result = invoke("encoders", "cnn")
    assert_clean_error(result, "encoder 'cnn' has no transformer: train it with configs/cnn.cfg")
