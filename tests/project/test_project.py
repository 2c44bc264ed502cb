"""The weasel project: `all --dry` lists every step, and the `smoke` workflow runs end to end (and reruns nothing).

Each test works in a temporary copy of the project (project.yml, configs/); the package
itself is the installed one. Weasel runs `python` commands with the interpreter it runs under (this venv's).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import srsly

from helpers import corpus_path
from spacy_clinical_pt.encoders import ENCODERS

REPO = Path(__file__).resolve().parents[2]
BENCH_ENCODERS = [key for key in ENCODERS if key != "minilm"]  # minilm is English: not one of the paper's
CORPORA = ("nestedclinbr", "er_ner", "clinpt")


def project_copy(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "project.yml", folder)
    shutil.copytree(REPO / "configs", folder / "configs")
    return folder


def weasel(project: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run([sys.executable, "-m", "weasel", *args], cwd=project, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_project_yml_declares_the_vars_and_workflows():
    project = srsly.read_yaml(REPO / "project.yml")
    for var in ("corpus", "encoder", "config", "scheme", "split_method", "seed", "class_weighting", "train_reader",
                "gpu_id", "package_name", "package_version", "local_corpora", "nestedclinbr_commit"):
        assert var in project["vars"], var
    commands = {command["name"] for command in project["commands"]}
    assert {"convert", "stats", "split", "train", "evaluate", "report", "package", "fetch-corpora"} <= commands
    for workflow in project["workflows"].values():
        assert set(workflow) <= commands
    assert project["workflows"]["offline"][-2:] == ["package", "install"]
    # the LLM preset configs are not committed: each LLM workflow writes them first
    assert project["workflows"]["llm"] == ["llm-configs", "llm-baseline"]
    assert project["workflows"]["silver"][0] == "llm-configs"
    # every command that writes something says what, so weasel can skip it when it is up to date
    for command in project["commands"]:
        if command["name"] not in ("stats",):
            assert command.get("outputs"), command["name"]


def test_all_dry_lists_every_encoder_scheme_and_corpus(tmp_path):
    project = project_copy(tmp_path / "project")
    result = weasel(project, "run", "all", ".", "--dry", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    for corpus in CORPORA:
        for key in BENCH_ENCODERS:
            for scheme in ("IO", "BIO"):
                assert f"--output training/bench/{corpus}/{key}_{scheme} " in out, (corpus, key, scheme)
                assert f"--output metrics/bench/{corpus}/{key}_{scheme} " in out, (corpus, key, scheme)
            if ENCODERS[key].hf_name:
                assert f"--encoder.name {ENCODERS[key].hf_name} " in out
    assert out.count("spacy train") == len(CORPORA) * len(BENCH_ENCODERS) * 2
    assert "git -C assets/.clone-nestedclinbr checkout --quiet 7465fa480f7e217dfea1fbd1bf242142a700b94b" in out
    assert "git -C assets/.clone-clinpt checkout --quiet aa4e5b1ca96b2af8dc834afb580d34f98ff0fa02" in out
    assert "convert assets/clinpt --output corpus/clinpt/all.spacy --format conll" in out
    assert "split corpus/clinpt/all.spacy --output corpus/clinpt/iterative --method iterative --ratios 0.6 0.2 0.2" in out
    assert "spacy_clinical_pt aggregate" in out and "spacy_clinical_pt compare" in out
    assert not (project / "training" / "bench").exists()  # a dry run runs nothing


def test_offline_dry_trains_the_cnn_and_ships_pt_clinical_cnn(tmp_path):
    project = project_copy(tmp_path / "project")
    result = weasel(project, "run", "offline", ".", "--dry", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    # the two-stage pipeline (tagger proposes, spancat decides); spancat's threshold is chosen on dev
    assert "spacy train configs/cnn_tagger_spancat.cfg --output training/nestedclinbr/cnn_BIOE" in out
    assert "--components.clinical_tagger.scheme BIOE" in out
    assert "--dev corpus/nestedclinbr/iterative/dev.spacy" in out and "--tune-continue-threshold" not in out
    assert "--training.max_steps 4500" in out
    assert ("package training/nestedclinbr/cnn_BIOE/model-best --output packages --encoder cnn "
            "--train-corpus nestedclinbr") in out
    assert "pt_clinical_cnn-0.1.0-py3-none-any.whl" in out


@pytest.mark.slow
def test_smoke_workflow_runs_end_to_end_and_a_second_run_skips_everything(tmp_path):
    corpora = corpus_path()
    project = project_copy(tmp_path / "project")
    result = weasel(project, "run", "link-corpora", ".", "--vars.local_corpora", str(corpora))
    assert result.returncode == 0, result.stderr[-2000:]
    result = weasel(project, "run", "smoke", ".")
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    for run, scheme in (("bert_IO", "IO"), ("mmbert_BIO", "BIO")):
        metrics = json.loads((project / "metrics" / "smoke" / run / "metrics.json").read_text(encoding="utf8"))
        assert metrics["scheme"] == scheme and metrics["threshold"]["chosen_on"] == "dev"
        token = metrics["token"][scheme]
        micro = token["micro"]
        # every gold token of the test notes is counted once (tp + fn over the columns), and F1 is their F1
        assert micro["tp"] + micro["fn"] == sum(label["support"] for label in token["per_label"].values()) > 0
        assert micro["f1"] == pytest.approx(2 * micro["tp"] / (2 * micro["tp"] + micro["fp"] + micro["fn"]))
    assert (project / "metrics" / "tables" / "smoke" / "aggregate.md").exists()
    wheel = project / "packages" / "pt_clinical_smoke-0.1.0" / "dist" / "pt_clinical_smoke-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        meta = json.loads(archive.read("pt_clinical_smoke/pt_clinical_smoke-0.1.0/meta.json"))
    assert meta["clinical_pt"]["labels"] == ["Anatomia", "Problema", "Teste", "Tratamento"]
    assert meta["clinical_pt"]["encoder_model"] == "training/smoke/encoders/bert"
    assert any(r.startswith("spacy-clinical-pt") for r in meta["requirements"])
    assert any(r.startswith("spacy-transformers") for r in meta["requirements"])

    again = weasel(project, "run", "smoke", ".")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Running command" not in again.stdout
    assert again.stdout.count("nothing changed") == 6
