"""scripts/project_commands.py: the generated blocks of project.yml (the benchmark's commands, its `all` workflow,
`llm-configs`) are what the script writes from the encoder and LLM preset tables, so they cannot drift."""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from helpers import REPO
from spacy_clinical_pt.llm.presets import write_configs


@pytest.fixture(scope="module")
def generator():
    spec = importlib.util.spec_from_file_location("project_commands", REPO / "scripts" / "project_commands.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_project_yml_is_what_the_generator_writes(generator):
    """Catches a bench command edited by hand in project.yml, or an encoder added to ENCODERS without rerunning
    the script."""
    text = (REPO / "project.yml").read_text(encoding="utf8")
    assert generator.render(text) == text


def test_the_cnn_trains_with_its_own_config_on_the_cpu(generator):
    command = generator.bench_command("er_ner", "cnn")
    split = "corpus/er_ner/${vars.split_method}"
    assert command["name"] == "bench-er_ner-cnn"
    assert command["help"] == "cnn (spaCy CNN) on er_ner, IO and BIO: train, then evaluate on test"
    assert command["script"][:2] == [
        "python -m spacy train configs/cnn.cfg --output training/bench/er_ner/cnn_IO"
        f" --paths.train {split}/train.spacy --paths.dev {split}/dev.spacy --components.clinical_tagger.scheme IO"
        " --components.clinical_tagger.class_weighting ${vars.class_weighting}"
        " --corpora.train.@readers ${vars.train_reader} --system.seed ${vars.seed}",
        f"python -m spacy_clinical_pt evaluate training/bench/er_ner/cnn_IO/model-best {split}/test.spacy"
        f" --dev {split}/dev.spacy --output metrics/bench/er_ner/cnn_IO --name cnn --corpus er_ner"
        " --seed ${vars.seed}",
    ]
    assert command["script"][2].startswith(
        "python -m spacy train configs/cnn.cfg --output training/bench/er_ner/cnn_BIO ")
    assert command["deps"] == [f"{split}/train.spacy", f"{split}/dev.spacy", f"{split}/test.spacy", "configs/cnn.cfg"]
    assert command["outputs"] == [
        "training/bench/er_ner/cnn_IO/model-best", "metrics/bench/er_ner/cnn_IO/metrics.json",
        "training/bench/er_ner/cnn_BIO/model-best", "metrics/bench/er_ner/cnn_BIO/metrics.json",
    ]


def test_a_transformer_names_its_model_and_takes_the_gpu(generator):
    command = generator.bench_command("nestedclinbr", "biobertpt_clin")
    train = command["script"][2]
    assert " --encoder.name pucpr/biobertpt-clin --components.clinical_tagger.scheme BIO " in train
    assert train.startswith("python -m spacy train configs/transformer.cfg --output "
                            "training/bench/nestedclinbr/biobertpt_clin_BIO ")
    assert train.endswith(" --gpu-id ${vars.gpu_id}")
    assert command["deps"][-1] == "configs/transformer.cfg"
    assert command["help"].startswith("biobertpt_clin (pucpr/biobertpt-clin) on nestedclinbr")


def test_the_tables_take_every_run_once_in_table_order(generator):
    command = generator.tables_command()
    aggregate, compare = command["script"]
    runs = aggregate.split()[4:-2]
    assert aggregate.split()[:4] == ["python", "-m", "spacy_clinical_pt", "aggregate"]
    assert compare == aggregate.replace(" aggregate ", " compare ")
    assert len(runs) == len(set(runs)) == 3 * 10 * 2  # corpora x encoders (MiniLM is not one) x schemes
    assert runs[:3] == ["metrics/bench/nestedclinbr/mmbert_base_IO", "metrics/bench/nestedclinbr/mmbert_base_BIO",
                        "metrics/bench/nestedclinbr/mmbert_small_IO"]
    assert runs[-1] == "metrics/bench/clinpt/cnn_BIO"
    assert command["deps"] == [f"{run}/metrics.json" for run in runs]


def test_llm_configs_lists_every_file_llm_presets_writes(generator, tmp_path):
    written = write_configs(tmp_path / "configs" / "llm")
    command = generator.llm_configs_command()
    assert command["script"] == ["python -m spacy_clinical_pt llm-presets --output configs/llm"]
    assert sorted(command["outputs"]) == sorted(path.relative_to(tmp_path).as_posix() for path in written)
    assert command["no_skip"] is True


def test_render_restores_an_edited_block_and_keeps_hand_written_text(generator):
    text = (REPO / "project.yml").read_text(encoding="utf8")
    edited = text.replace("--name modernbert_large --corpus er_ner", "--name modernbert --corpus er_ner", 1)
    edited = edited.replace('  seed: 42\n', '  seed: 7\n', 1)
    assert edited.count("--name modernbert --corpus er_ner") == 1
    assert generator.render(edited) == text.replace('  seed: 42\n', '  seed: 7\n', 1)


def test_render_names_a_missing_block(generator):
    text = (REPO / "project.yml").read_text(encoding="utf8")
    end = generator.END.format(name="all-bench")
    with pytest.raises(ValueError, match="project.yml has no block 'all-bench'"):
        generator.render(text.replace(end, "# the end"))


def test_check_exits_1_on_a_stale_project_yml_and_a_run_rewrites_it(generator, tmp_path, capsys):
    project = tmp_path / "project.yml"
    shutil.copy(REPO / "project.yml", project)
    current = project.read_text(encoding="utf8")
    project.write_text(current.replace('    - "bench-er_ner-cnn"\n', ""), encoding="utf8")
    stale = project.read_text(encoding="utf8")
    assert generator.main([str(project), "--check"]) == 1
    assert "differs from what scripts/project_commands.py writes" in capsys.readouterr().err
    assert project.read_text(encoding="utf8") == stale
    assert generator.main([str(project)]) == 0
    assert project.read_text(encoding="utf8") == current
    assert generator.main([str(project), "--check"]) == 0
