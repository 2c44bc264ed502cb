"""`spacy-clinical-pt pretrain-mlm` on the tiny encoders of the real architectures (`tiny_models`): a few masked-LM
updates on a repeated note, and the folder it writes is a masked LM with new weights, a tokenizer that emits only
what the model takes, and an `--encoder.name` for configs/transformer.cfg. Long notes become consecutive windows;
bad notes, a model not on this machine and an existing output are one `error:` line.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from helpers import CONFIGS, assert_clean_error, invoke

from spacy_clinical_pt.mlm import RESULTS_FILE, note_windows
from spacy_clinical_pt.tiny_models import CLINICAL_SENTENCES, tiny_model_dir

NOTE = CLINICAL_SENTENCES[0]  # about 30 tokens with each tiny tokenizer
REPEATS = 16
LONG_REPEATS = 10  # the same sentence 10 times in one note: several windows of MAX_LENGTH
MAX_LENGTH = 64
STEPS = 30


def write_jsonl(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"text": text}, ensure_ascii=False) + "\n" for text in texts),
                    encoding="utf-8")
    return path


def pretrain(notes: Path, output: Path, model: Path | str, *options: str):
    return invoke("pretrain-mlm", notes, output, "--encoder.name", model, "--max-length", MAX_LENGTH,
                  "--batch-size", 8, *options)


@pytest.fixture(scope="module", params=["mmbert", "modernbert", "bert"])
def trained(request, tmp_path_factory):
    """(kind, output folder, pretrain_mlm.json, stdout) after STEPS updates on the repeated note and one long note."""
    folder = tmp_path_factory.mktemp(f"mlm-{request.param}")
    notes = write_jsonl(folder / "notes.jsonl", [NOTE] * REPEATS + [" ".join([NOTE] * LONG_REPEATS)])
    # A randomly initialised encoder needs a far larger rate than continued pretraining to move in 30 updates.
    result = pretrain(notes, folder / "out", tiny_model_dir(request.param), "--steps", STEPS,
                      "--learn-rate", "1e-2", "--warmup", 2, "--seed", 3)
    assert result.exit_code == 0, result.output
    return request.param, folder / "out", json.loads((folder / "out" / RESULTS_FILE).read_text()), result.stdout


def test_the_output_is_a_masked_lm_with_trained_weights(trained):
    from transformers import AutoModel, AutoModelForMaskedLM

    kind, output, _, _ = trained
    AutoModelForMaskedLM.from_pretrained(output, local_files_only=True)
    base = AutoModel.from_pretrained(tiny_model_dir(kind), local_files_only=True).state_dict()
    saved = AutoModel.from_pretrained(output, local_files_only=True).state_dict()
    assert saved.keys() == base.keys()
    unchanged = [name for name in base if torch.equal(base[name], saved[name])]
    # BertForMaskedLM has no pooler: AutoModel starts a new one, its bias zeros as in the base.
    assert unchanged == (["pooler.dense.bias"] if kind == "bert" else [])


def test_the_loss_falls_and_the_results_hold_no_text(trained):
    kind, output, results, stdout = trained
    assert results["final_loss"] < 0.75 * results["first_loss"], (kind, results["first_loss"], results["final_loss"])
    assert (results["steps"], results["seed"], results["mlm_probability"]) == (STEPS, 3, 0.15)
    assert results["base_model"] == str(tiny_model_dir(kind))
    assert NOTE.split(",")[0] not in (output / RESULTS_FILE).read_text()
    assert f"trained {STEPS} updates on {results['windows']} windows of {REPEATS + 1} notes (1 cut into several)" \
        in stdout


def test_the_long_note_is_cut_into_consecutive_windows(trained):
    from transformers import AutoTokenizer

    kind, output, results, _ = trained
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir(kind))
    long_tokens = len(tokenizer(" ".join([NOTE] * LONG_REPEATS), add_special_tokens=False)["input_ids"])
    assert long_tokens > 4 * MAX_LENGTH
    assert results["windows"] == REPEATS + math.ceil(long_tokens / (MAX_LENGTH - 2))  # [CLS] and [SEP] in each
    assert (results["notes"], results["long_notes"]) == (REPEATS + 1, 1)


def test_windows_keep_every_token_in_order():
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir("mmbert"))
    text = " ".join(CLINICAL_SENTENCES)
    windows, per_note = note_windows([text, "", NOTE], tokenizer, 16)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert per_note == [math.ceil(len(ids) / 14), 0, math.ceil(len(tokenizer(NOTE, add_special_tokens=False)
                                                                       ["input_ids"]) / 14)]
    assert all(len(w) <= 16 and w[0] == tokenizer.cls_token_id and w[-1] == tokenizer.sep_token_id for w in windows)
    assert [i for w in windows[: per_note[0]] for i in w[1:-1]] == ids


def test_modernbert_tokenizers_emit_no_token_type_ids(trained):
    from transformers import AutoTokenizer

    kind, output, _, _ = trained
    emitted = set(AutoTokenizer.from_pretrained(output, local_files_only=True)(NOTE))
    expected = {"input_ids", "attention_mask"} | ({"token_type_ids"} if kind == "bert" else set())
    assert emitted == expected


def test_token_type_ids_are_dropped_for_a_model_that_takes_none(tmp_path):
    """A ModernBERT folder whose tokenizer_config.json does not restrict the inputs (transformers' default
    includes token_type_ids): the saved tokenizer emits only what ModernBertForMaskedLM takes."""
    from transformers import AutoTokenizer

    base = tmp_path / "base"
    shutil.copytree(tiny_model_dir("mmbert"), base)
    config = json.loads((base / "tokenizer_config.json").read_text())
    del config["model_input_names"]
    (base / "tokenizer_config.json").write_text(json.dumps(config))
    assert "token_type_ids" in AutoTokenizer.from_pretrained(base)(NOTE)
    result = pretrain(write_jsonl(tmp_path / "notes.jsonl", [NOTE]), tmp_path / "out", base, "--steps", 1)
    assert result.exit_code == 0, result.output
    assert set(AutoTokenizer.from_pretrained(tmp_path / "out")(NOTE)) == {"input_ids", "attention_mask"}


def test_the_output_is_an_encoder_name_for_the_transformer_config(trained, nlp):
    """configs/transformer.cfg with `--encoder.name OUTPUT`: the pipeline initialises, runs a note through the
    trained weights, and the tagger gives a probability per token and label."""
    from spacy.training import Example
    from spacy.util import load_config, load_model_from_config
    from transformers import AutoModel

    kind, output, _, _ = trained
    config = load_config(CONFIGS / "transformer.cfg", overrides={"encoder.name": str(output)},
                         interpolate=True)
    pipeline = load_model_from_config(config, auto_fill=True)
    gold = nlp.make_doc(NOTE)
    gold.spans["sc"] = [gold.char_span(NOTE.index("dor torácica"), NOTE.index(" há"), label="Problema")]
    pipeline.initialize(lambda: [Example(pipeline.make_doc(NOTE), gold)])
    doc = pipeline(" ".join([NOTE] * 3))
    assert doc._.clinical_probs.shape == (len(doc), 1)
    hf_model = pipeline.get_pipe("transformer").model.transformer
    trained_embeddings = AutoModel.from_pretrained(output).get_input_embeddings().weight
    assert torch.equal(hf_model.get_input_embeddings().weight, trained_embeddings)


@pytest.mark.parametrize("line,problem", [
    ("{not json", "line 2: not JSON"),
    ('{"texto": "x"}', "line 2: expected an object with a 'text' string"),
    ('["a list"]', "line 2: expected an object with a 'text' string"),
])
def test_a_bad_jsonl_line_names_file_and_line(tmp_path, line, problem):
    notes = tmp_path / "notes.jsonl"
    notes.write_text(json.dumps({"text": NOTE}) + "\n" + line + "\n", encoding="utf-8")
    result = pretrain(notes, tmp_path / "out", tiny_model_dir("bert"))
    assert_clean_error(result, f"{notes} {problem}")
    assert not (tmp_path / "out").exists()


def test_a_folder_of_txt_notes_and_a_file_not_utf8(tmp_path):
    folder = tmp_path / "notes"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "1.txt").write_text(NOTE, encoding="utf-8")
    (folder / "2.txt").write_bytes("Não".encode("cp1252"))
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "1-checkpoint.txt").write_text(NOTE, encoding="utf-8")
    assert_clean_error(pretrain(folder, tmp_path / "out", tiny_model_dir("bert")), f"{folder / '2.txt'}: not UTF-8")
    (folder / "2.txt").write_text(NOTE, encoding="utf-8")
    result = pretrain(folder, tmp_path / "out", tiny_model_dir("bert"), "--steps", 1)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out" / RESULTS_FILE).read_text())["notes"] == 2


def test_a_jsonl_file_with_a_byte_order_mark(tmp_path):
    notes = tmp_path / "notes.jsonl"
    notes.write_bytes(b"\xef\xbb\xbf" + json.dumps({"text": NOTE}).encode() + b"\n")
    result = pretrain(notes, tmp_path / "out", tiny_model_dir("bert"), "--steps", 1)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out" / RESULTS_FILE).read_text())["notes"] == 1


def test_an_existing_output_is_refused_without_overwrite(tmp_path):
    notes = write_jsonl(tmp_path / "notes.jsonl", [NOTE])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    assert_clean_error(pretrain(notes, tmp_path / "out", tiny_model_dir("bert")), f"{tmp_path / 'out'}: the folder "
                       "is not empty; use --overwrite")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]
    result = pretrain(notes, tmp_path / "out", tiny_model_dir("bert"), "--steps", 1, "--overwrite")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "config.json").is_file() and (tmp_path / "out" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("model,message", [
    ("nobody/no-such-model", "nobody/no-such-model: not found locally; on a machine with the hub, download it first"),
    ("cnn", "encoder 'cnn' has no transformer"),
    ("no_such_key", "unknown encoder 'no_such_key'"),
])
def test_a_model_not_on_this_machine_is_one_error_line(tmp_path, model, message):
    result = pretrain(write_jsonl(tmp_path / "notes.jsonl", [NOTE]), tmp_path / "out", model)
    assert_clean_error(result, message)
    assert not (tmp_path / "out").exists()


def test_a_gpu_that_is_not_there_is_an_error(tmp_path):
    result = pretrain(write_jsonl(tmp_path / "notes.jsonl", [NOTE]), tmp_path / "out", tiny_model_dir("bert"),
                      "--gpu-id", 99)
    assert_clean_error(result, "--gpu-id 99: torch sees")


def test_empty_notes_and_options_without_meaning_are_errors(tmp_path):
    notes = write_jsonl(tmp_path / "notes.jsonl", ["", "   "])
    assert_clean_error(pretrain(notes, tmp_path / "out", tiny_model_dir("bert")), "no text to train on: the 2 notes")
    notes = write_jsonl(tmp_path / "notes.jsonl", [NOTE])
    assert_clean_error(pretrain(notes, tmp_path / "out", tiny_model_dir("bert"), "--mlm-probability", "1.5"),
                       "mlm_probability must be between 0 and 1, got 1.5")
    assert_clean_error(pretrain(notes, tmp_path / "out", tiny_model_dir("bert"), "--max-length", 4096),
                       "max_length 4096 is over the 512 positions")
