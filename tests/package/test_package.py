"""`package`: a trained pipeline becomes a wheel that a fresh environment installs and loads by name.

The fresh environment: `python -m venv --without-pip`, a `.pth` file that puts this environment's site-packages
on its path (so spacy, torch... are importable without installing them again, which would take minutes), then
`pip --python <fresh venv> install --no-deps --no-index --ignore-installed` of two wheels built here: spacy-clinical-pt itself
(`pip wheel` of this repository) and the pipeline. The `.pth` line adds the directory only, so the editable
install of spacy-clinical-pt here (itself a `.pth` inside that directory) is NOT active there: the fresh process
imports spacy_clinical_pt from its own wheel, and the test checks that it does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import spacy

from helpers import invoke
from helpers.pipelines import NESTED_NOTE, overlapping, train_tiny_pipeline
from spacy_clinical_pt.encoders import pipeline_package_name
from spacy_clinical_pt.package import CORPORA, evaluation_summary, package_pipeline
from spacy_clinical_pt.pipes import find_tagger

REPO = Path(__file__).resolve().parents[2]
WHEEL_NAME = "pt_clinical_testwheel"  # not a name the main job installs, so nothing else can answer for it

LOAD_BY_NAME = """
import json, sys, spacy
import spacy_clinical_pt
nlp = spacy.load(sys.argv[1])
doc = nlp(sys.argv[2])
print(json.dumps({
    "module": spacy_clinical_pt.__file__,
    "pipeline_module": sys.modules[sys.argv[1]].__file__,
    "meta": nlp.meta["clinical_pt"],
    "threshold": nlp.get_pipe("clinical_tagger").threshold,
    "spans": [[s.start_char, s.end_char, s.label_] for s in doc.spans["sc"]],
    "scores": [float(x) for x in doc.spans["sc"].attrs["scores"]],
}))
"""


def test_package_names_follow_the_encoder():
    assert pipeline_package_name("cnn") == "pt_clinical_cnn"
    assert pipeline_package_name("mmbert_base") == "pt_clinical_mmbert"
    assert pipeline_package_name("mmBERT-small") == "pt_clinical_mmbert_small"
    assert pipeline_package_name("biobertpt_clin") == "pt_clinical_biobertpt_clin"
    assert pipeline_package_name("bertimbau_large") == "pt_clinical_bertimbau_large"
    with pytest.raises(ValueError, match="unknown encoder"):
        pipeline_package_name("gpt2")


def test_corpus_licences_are_recorded():
    assert CORPORA["er_ner"]["license"] == "CC BY-NC 4.0"
    assert "HAILab" in CORPORA["nestedclinbr"]["license"] and "research" in CORPORA["nestedclinbr"]["license"]


def test_evaluation_summary_takes_the_run_scheme_and_leaves_out_the_host():
    metrics = {
        "scheme": "BIO",
        "threshold": {"policy": "dev", "description": "dev (...)", "value": 0.3, "chosen_on": "dev"},
        "token": {"BIO": {"micro": {"precision": 0.5, "recall": 0.25, "f1": 1 / 3, "support": 9},
                          "macro": {"f1": 0.2}, "per_label": {"B-Problema": {"f1": 0.4}}}},
        "entity": {"strict": {"micro": {"f1": 0.1}, "macro": {"f1": 0.05}}},
        "provenance": {"corpus": "nestedclinbr", "hostname": "my-laptop", "data": {"test": {"sha256": "ab"}}},
    }
    summary = evaluation_summary(metrics)
    assert summary["token"]["scheme"] == "BIO" and summary["token"]["micro"] == {
        "precision": 0.5, "recall": 0.25, "f1": 1 / 3}
    assert summary["token"]["per_label_f1"] == {"B-Problema": 0.4}
    assert summary["threshold"]["value"] == 0.3 and summary["data_sha256"] == {"test": "ab"}
    assert "my-laptop" not in json.dumps(summary)


def evaluate_on_dev(model: Path, folder: Path) -> Path:
    """`evaluate` the pipeline on `folder`'s train.spacy, threshold chosen on its dev.spacy; RETURNS metrics.json."""
    result = invoke("evaluate", model, folder / "train.spacy", "--dev", folder / "dev.spacy", "--output",
                    folder / "eval")
    assert result.exit_code == 0, result.output
    return folder / "eval" / "metrics.json"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny CNN pipeline and the metrics.json of `evaluate` (threshold chosen on dev) for it."""
    folder = tmp_path_factory.mktemp("package_model")
    model = train_tiny_pipeline(folder)
    return model, evaluate_on_dev(model, folder), folder


@pytest.mark.slow
def test_package_meta_threshold_and_oracle_guard(trained, tmp_path):
    model, metrics_path, _ = trained
    metrics = json.loads(metrics_path.read_text(encoding="utf8"))
    chosen = metrics["threshold"]["value"]
    own = find_tagger(spacy.load(model)).threshold
    result = package_pipeline(model, tmp_path / "dev", encoder="cnn", train_corpus="nestedclinbr",
                              version="1.2.3", name=WHEEL_NAME, metrics_path=metrics_path)
    assert result.wheel.name == f"{WHEEL_NAME}-1.2.3-py3-none-any.whl"
    with zipfile.ZipFile(result.wheel) as wheel:
        names = wheel.namelist()
        meta = json.loads(wheel.read(f"{WHEEL_NAME}/{WHEEL_NAME}-1.2.3/meta.json"))
        wheel_metadata = next(wheel.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    assert any(n.endswith("clinical_tagger/cfg") for n in names)
    clinical = meta["clinical_pt"]
    assert clinical["labels"] == ["Anatomia", "Problema", "Teste", "Tratamento"]
    assert clinical["scheme"] == "BIOE" and clinical["encoder"] == "cnn" and clinical["spans_key"] == "sc"  # cnn.cfg
    assert clinical["threshold"] == chosen and "dev" in clinical["threshold_source"]
    assert clinical["evaluation"]["token"]["micro"]["f1"] == metrics["token"]["BIOE"]["micro"]["f1"]
    assert meta["performance"]["token_BIOE_micro_f1"] == round(metrics["token"]["BIOE"]["micro"]["f1"], 4)
    assert meta["sources"][0]["name"] == "NestedClinBr" and meta["license"] == CORPORA["nestedclinbr"]["license"]
    assert "Requires-Dist: spacy-clinical-pt<0.2.0,>=0.1.0" in wheel_metadata
    # the packaged pipeline decodes at the threshold chosen on dev
    packaged = spacy.load(result.wheel.parents[1] / WHEEL_NAME / f"{WHEEL_NAME}-1.2.3")
    assert packaged.get_pipe("clinical_tagger").threshold == chosen

    # a threshold chosen on the test set is never shipped
    metrics["threshold"].update(policy="oracle", value=0.07, chosen_on="test")
    oracle_path = tmp_path / "oracle.json"
    oracle_path.write_text(json.dumps(metrics), encoding="utf8")
    result = package_pipeline(model, tmp_path / "oracle", encoder="cnn", train_corpus="er_ner", name=WHEEL_NAME,
                              metrics_path=oracle_path)
    assert result.meta["clinical_pt"]["threshold"] == own != 0.07
    assert "not applied" in result.meta["clinical_pt"]["threshold_source"]
    assert result.meta["license"] == "CC BY-NC 4.0"


@pytest.mark.slow
def test_two_stage_pipeline_ships_the_span_classifier_threshold_chosen_on_dev(tmp_path):
    model = train_tiny_pipeline(tmp_path, steps=150, config=REPO / "configs" / "cnn_tagger_spancat.cfg")
    metrics_path = evaluate_on_dev(model, tmp_path)
    metrics = json.loads(metrics_path.read_text(encoding="utf8"))
    assert metrics["pipeline_kind"] == "span_classifier" and metrics["threshold"]["chosen_on"] == "dev"
    chosen = metrics["threshold"]["value"]
    result = package_pipeline(model, tmp_path / "packages", encoder="cnn", train_corpus="nestedclinbr",
                              name=WHEEL_NAME, metrics_path=metrics_path)
    clinical = result.meta["clinical_pt"]
    assert clinical["span_classifier"] == "spancat" and clinical["threshold"] == chosen
    assert clinical["continue_threshold"] is None and "dev" in clinical["threshold_source"]
    packaged = spacy.load(result.wheel.parents[1] / WHEEL_NAME / f"{WHEEL_NAME}-{result.version}")
    assert packaged.get_pipe("spancat").cfg["threshold"] == chosen
    # the default's span classifier (clinical_spancat) takes per-label thresholds: they are shipped too
    metrics["threshold"]["value"] = {"Problema": 0.3}
    (tmp_path / "per_label.json").write_text(json.dumps(metrics), encoding="utf8")
    result = package_pipeline(model, tmp_path / "per_label", encoder="cnn", train_corpus="nestedclinbr",
                              name=WHEEL_NAME, metrics_path=tmp_path / "per_label.json")
    assert result.meta["clinical_pt"]["threshold"] == {"Problema": 0.3}
    assert "dev" in result.meta["clinical_pt"]["threshold_source"]
    packaged = spacy.load(result.wheel.parents[1] / WHEEL_NAME / f"{WHEEL_NAME}-{result.version}")
    assert packaged.get_pipe("spancat").threshold == pytest.approx({"Problema": 0.3})


def test_package_command_rejects_bad_input(tmp_path):
    result = run_package(tmp_path, "-o", tmp_path / "out", "--encoder", "cnn", "--train-corpus", "nestedclinbr")
    assert result.exit_code == 1 and "not a trained pipeline folder" in result.output


def _fresh_venv(folder: Path) -> Path:
    """A venv without pip whose path also holds this environment's site-packages (directory only)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "_outer_site_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf8")
    return python


def _package_wheel(folder: Path) -> Path:
    """A wheel of spacy-clinical-pt built from a copy of this repository (no build/ left in the checkout)."""
    source = folder / "source"
    source.mkdir(parents=True)
    shutil.copy(REPO / "pyproject.toml", source)
    shutil.copy(REPO / "README.md", source)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
               "--wheel-dir", str(folder / "dist"), str(source)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return next((folder / "dist").glob("spacy_clinical_pt-*.whl"))


@pytest.mark.slow
def test_wheel_installs_in_a_fresh_venv_and_loads_by_name(trained, tmp_path):
    model, metrics_path, _ = trained
    result = package_pipeline(model, tmp_path / "packages", encoder="cnn", train_corpus="nestedclinbr",
                              name=WHEEL_NAME, metrics_path=metrics_path)
    packaged = spacy.load(result.wheel.parents[1] / WHEEL_NAME / f"{WHEEL_NAME}-{result.version}")
    doc = packaged(NESTED_NOTE)
    expected = sorted([s.start_char, s.end_char, s.label_] for s in doc.spans["sc"])
    assert overlapping([tuple(s) for s in expected]), expected

    venv = tmp_path / "venv"
    python = _fresh_venv(venv)
    isolated = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing but the fresh venv's path
    # --ignore-installed: the outer spacy-clinical-pt (seen through the .pth) must be neither "already
    # satisfied" nor uninstalled; the fresh venv gets its own copy.
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
               "--no-index", "--ignore-installed", str(_package_wheel(tmp_path / "build")), str(result.wheel)]
    done = subprocess.run(install, capture_output=True, text=True, env=isolated)
    assert done.returncode == 0, done.stderr[-2000:]

    run = subprocess.run([str(python), "-c", LOAD_BY_NAME, WHEEL_NAME, NESTED_NOTE], capture_output=True,
                         text=True, cwd=tmp_path, env=isolated)
    assert run.returncode == 0, run.stderr[-3000:]
    loaded = json.loads(run.stdout.strip().splitlines()[-1])
    # both the component's package and the pipeline come from the fresh environment
    assert Path(loaded["module"]).is_relative_to(venv), loaded["module"]
    assert Path(loaded["pipeline_module"]).is_relative_to(venv), loaded["pipeline_module"]
    assert sorted(loaded["spans"]) == expected
    assert all(0.0 < score <= 1.0 for score in loaded["scores"])
    assert loaded["threshold"] == loaded["meta"]["threshold"] == result.meta["clinical_pt"]["threshold"]


# --- bad input: `error: <path>: ...`, exit 1, never a traceback, nothing written ----------------------------


def run_package(*args):
    return invoke("package", *args)


@pytest.fixture(scope="module")
def blank_pipeline(tmp_path_factory) -> Path:
    """A pipeline spaCy loads (a tokenizer only): enough for the checks made before the build."""
    folder = tmp_path_factory.mktemp("blank_pipeline") / "pipeline"
    spacy.blank("pt").to_disk(folder)
    return folder


@pytest.mark.parametrize(
    "content, message",
    [
        ("Paciente com dor no peito.", "not a JSON file (JSONDecodeError: Expecting value: line 1 column 1 (char 0))"),
        ("[" * 100_000 + "]" * 100_000, "not a JSON file (RecursionError"),
        ("[1, 2]", "holds a list, not the object of a metrics.json from `evaluate`"),
        ('{"token": []}', "token is a list, not an object"),
        ('{"threshold": 0.5}', "threshold is 0.5, not an object"),
        ('{"scheme": "BIO", "token": {"BIO": {"micro": {"f1": "alta"}}}}', "token.BIO.micro.f1 is 'alta', not a number"),
        ('{"provenance": {"data": {"test": "x.spacy"}}}', "provenance.data.test is 'x.spacy', not an object"),
        (None, "no such metrics file"),  # already a clean error (Errno 2 and the path): kept for the message
    ],
)
def test_a_metrics_file_that_is_not_evaluates_is_an_error_naming_it(blank_pipeline, tmp_path, content, message):
    from helpers import assert_clean_error

    metrics = tmp_path / "metrics.json"
    if content is not None:
        metrics.write_text(content, encoding="utf8")
    result = run_package(blank_pipeline, "-o", tmp_path / "out", "--encoder", "cnn", "--train-corpus", "x",
                         "--metrics", metrics)
    assert_clean_error(result, metrics)
    assert f"{metrics}: {message}" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_threshold_the_tagger_refuses_names_the_metrics_file(tmp_path):
    from helpers import assert_clean_error
    from helpers.pipelines import untrained_pipeline

    pipeline = untrained_pipeline(tmp_path)
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"threshold": {"policy": "dev", "value": 5.0}}), encoding="utf8")
    result = run_package(pipeline, "-o", tmp_path / "out", "--encoder", "cnn", "--train-corpus", "x",
                         "--metrics", metrics)
    assert_clean_error(result, metrics)
    assert f"{metrics}: threshold:" in result.stderr


def test_a_folder_spacy_cannot_load_is_an_error_naming_it(blank_pipeline, tmp_path):
    from helpers import assert_clean_error

    broken = tmp_path / "broken"
    shutil.copytree(blank_pipeline, broken)
    (broken / "config.cfg").write_text("Paciente com dor no peito [[\n", encoding="utf8")
    result = run_package(broken, "-o", tmp_path / "out", "--encoder", "cnn", "--train-corpus", "x")
    assert_clean_error(result, broken)
    assert f"{broken}: not a pipeline spaCy can load (ConfigValidationError: Config validation error" in result.stderr
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    "option, message",
    [
        (["--version", "abc"], "package version 'abc' is not a version number such as 0.1.0 (PEP 440)"),
        # the version names the package folder, which is removed when it exists (an earlier build): here ../victim
        (["--version", "1.0/../../victim"], "package version '1.0/../../victim' is not a version number"),
        # setuptools drops non-ASCII letters: the wheel was pt_o, which spacy.load("pt_ção") cannot find
        (["--name", "pt_ção"], "package name 'pt_ção' must start with 'pt_' and go on with lower-case ASCII"),
    ],
)
def test_version_and_name_are_checked_before_anything_is_built(blank_pipeline, tmp_path, option, message):
    from helpers import assert_clean_error

    (tmp_path / "out" / "pt_clinical_cnn-1.0").mkdir(parents=True)  # an earlier build
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "notes.txt").write_text("keep me", encoding="utf8")
    result = run_package(blank_pipeline, "-o", tmp_path / "out", "--encoder", "cnn", "--train-corpus", "x", *option)
    assert_clean_error(result)
    assert f"error: {message}" in result.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["pt_clinical_cnn-1.0"]
    assert (tmp_path / "victim" / "notes.txt").read_text(encoding="utf8") == "keep me"


def test_an_output_that_is_a_file_is_an_error_naming_it(blank_pipeline, tmp_path):
    from helpers import assert_clean_error

    blocker = tmp_path / "packages"
    blocker.write_text("", encoding="utf8")
    result = run_package(blank_pipeline, "-o", blocker, "--encoder", "cnn", "--train-corpus", "x")
    assert_clean_error(result, blocker)
    assert f"{blocker}: is a file, not a folder for the package" in result.stderr


@pytest.fixture(scope="module")
def untrained(tmp_path_factory) -> Path:
    from helpers.pipelines import untrained_pipeline

    return untrained_pipeline(tmp_path_factory.mktemp("untrained"))


@pytest.mark.parametrize(
    "section, apply, start, continuation, note",
    [
        ({"policy": "dev", "description": "dev (micro F1)", "value": 0.3, "continue_threshold": {"value": 0.2}},
         True, 0.3, 0.2, "dev (micro F1)"),
        ({"policy": "fixed", "value": {"Problema": 0.35}}, True, {"Problema": 0.35}, None, "fixed"),
        ({"policy": "dev", "value": 0.3}, False, 0.5, None, "the pipeline's own (set at training)"),
        ({"policy": "oracle", "value": 0.07, "chosen_on": "test"}, True, 0.5, None,
         "the pipeline's own (set at training); the evaluation's oracle threshold (chosen on test) is not applied"),
    ],
)
def test_the_evaluation_threshold_is_set_on_the_tagger_as_evaluated(untrained, section, apply, start, continuation,
                                                                     note):
    from spacy_clinical_pt.package import apply_evaluation_threshold

    nlp = spacy.load(untrained)
    assert apply_evaluation_threshold(nlp, section, apply, "m.json") == note
    tagger = find_tagger(nlp)
    assert (tagger.threshold, tagger.continue_threshold) == (start, continuation)


def test_a_threshold_for_a_label_the_tagger_lacks_names_the_file_and_the_label(untrained):
    from spacy_clinical_pt.package import apply_evaluation_threshold

    nlp = spacy.load(untrained)
    with pytest.raises(ValueError, match=r"^m.json: threshold: threshold given for unknown label\(s\) 'Exame'"):
        apply_evaluation_threshold(nlp, {"policy": "dev", "value": {"Exame": 0.3}}, True, "m.json")
    assert find_tagger(nlp).threshold == 0.5


@pytest.mark.parametrize(
    "section, threshold, note",
    [
        # the tagger's continuation threshold is not the span classifier's: its start threshold alone is set
        ({"policy": "dev", "description": "dev", "value": 0.3, "continue_threshold": {"value": 0.2}}, 0.3, "dev"),
        ({"policy": "dev", "value": {"Problema": 0.3}}, 0.5,
         "the pipeline's own (set at training); spancat has one shared threshold, the evaluation's per-label ones "
         "are not applied"),
    ],
)
def test_a_span_classifier_after_the_tagger_gets_the_shared_threshold_only(untrained, section, threshold, note):
    from spacy_clinical_pt.package import apply_evaluation_threshold

    nlp = spacy.load(untrained)
    nlp.add_pipe("spancat", config={"spans_key": "sc", "threshold": 0.5})  # decides on the tagger's key
    assert apply_evaluation_threshold(nlp, section, True, "m.json") == note
    assert nlp.get_pipe("spancat").cfg["threshold"] == threshold
    assert find_tagger(nlp).threshold == 0.5  # the tagger's threshold is not the output's


def test_a_clinical_spancat_gets_the_per_label_thresholds_chosen_on_dev(untrained):
    from spacy_clinical_pt.package import apply_evaluation_threshold

    nlp = spacy.load(untrained)
    nlp.add_pipe("clinical_spancat", config={"spans_key": "sc"})
    nlp.get_pipe("clinical_spancat").add_label("Problema")
    section = {"policy": "dev", "description": "chosen on dev", "value": {"Problema": 0.004}}
    assert apply_evaluation_threshold(nlp, section, True, "m.json") == "chosen on dev"
    assert nlp.get_pipe("clinical_spancat").threshold == {"Problema": 0.004}


# --- assertion: packaged pipelines end with clinical_context unless --no-context ----------------------------

ASSERTION_NOTE = "Nega febre. Refere dor torácica."
LOAD_ASSERTIONS = """
import json, sys, spacy
nlp = spacy.load(sys.argv[1])
doc = nlp(sys.argv[2])
print(json.dumps({"pipe_names": nlp.pipe_names,
                  "spans": [[s.text, s._.assertion, s._.is_negated] for s in doc.spans["sc"]]}))
"""


@pytest.fixture(scope="module")
def ruler_pipeline(tmp_path_factory) -> Path:
    """A pipeline whose entities are known in advance: a span ruler writing doc.spans["sc"] (no training)."""
    from spacy_clinical_pt.tokenizer import clinical_nlp

    nlp = clinical_nlp()
    ruler = nlp.add_pipe("span_ruler", config={"spans_key": "sc"})
    ruler.add_patterns([{"label": "Problema", "pattern": "febre"},
                        {"label": "Problema", "pattern": [{"LOWER": "dor"}, {"LOWER": "torácica"}]}])
    folder = tmp_path_factory.mktemp("ruler_pipeline") / "pipeline"
    nlp.to_disk(folder)
    return folder


def test_a_packaged_pipeline_gives_assertion(ruler_pipeline, tmp_path):
    result = package_pipeline(ruler_pipeline, tmp_path / "packages", encoder="cnn", train_corpus="x",
                              name=WHEEL_NAME)
    assert result.meta["clinical_pt"]["assertion"]["component"] == "clinical_context"
    assert result.meta["clinical_pt"]["assertion"]["spans_key"] == "sc"
    with zipfile.ZipFile(result.wheel) as wheel:
        assert any(n.endswith("clinical_context/context_rules.json") for n in wheel.namelist())
    packaged = spacy.load(result.wheel.parents[1] / WHEEL_NAME / f"{WHEEL_NAME}-{result.version}")
    assert packaged.pipe_names == ["span_ruler", "clinical_context"]
    doc = packaged(ASSERTION_NOTE)
    assert [(s.text, s._.assertion, s._.is_negated) for s in doc.spans["sc"]] == [
        ("febre", "absent", True), ("dor torácica", "present", False)]


def test_no_context_leaves_it_out(ruler_pipeline, tmp_path):
    from spacy_clinical_pt.package import set_context

    result = run_package(ruler_pipeline, "-o", tmp_path / "packages", "--encoder", "cnn", "--train-corpus", "x",
                         "--name", WHEEL_NAME, "--no-context")
    assert result.exit_code == 0, result.output
    assert "assertion: none (--no-context)" in result.stdout
    packaged = spacy.load(tmp_path / "packages" / f"{WHEEL_NAME}-0.1.0" / WHEEL_NAME / f"{WHEEL_NAME}-0.1.0")
    assert packaged.pipe_names == ["span_ruler"]
    # a trained pipeline that has one already keeps it (not a second), and loses it with --no-context
    nlp = spacy.load(ruler_pipeline)
    set_context(nlp)
    set_context(nlp)
    assert nlp.pipe_names == ["span_ruler", "clinical_context"]
    set_context(nlp, include=False)
    assert nlp.pipe_names == ["span_ruler"]


@pytest.mark.slow
def test_the_wheel_finds_clinical_context_by_entry_point_in_a_fresh_venv(ruler_pipeline, tmp_path):
    result = package_pipeline(ruler_pipeline, tmp_path / "packages", encoder="cnn", train_corpus="x",
                              name=WHEEL_NAME)
    python = _fresh_venv(tmp_path / "venv")
    isolated = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
               "--no-index", "--ignore-installed", str(_package_wheel(tmp_path / "build")), str(result.wheel)]
    done = subprocess.run(install, capture_output=True, text=True, env=isolated)
    assert done.returncode == 0, done.stderr[-2000:]
    # spacy.load by name, nothing of ours imported first: the factory comes from the entry point
    run = subprocess.run([str(python), "-c", LOAD_ASSERTIONS, WHEEL_NAME, ASSERTION_NOTE], capture_output=True,
                         text=True, cwd=tmp_path, env=isolated)
    assert run.returncode == 0, run.stderr[-3000:]
    loaded = json.loads(run.stdout.strip().splitlines()[-1])
    assert loaded["pipe_names"] == ["span_ruler", "clinical_context"]
    assert loaded["spans"] == [["febre", "absent", True], ["dor torácica", "present", False]]
