"""`spacy pretrain configs/pretrain_cnn.cfg` on twenty hand-written notes, and its weights loaded by
`--paths.init_tok2vec` into the tok2vec of configs/cnn_tagger_spancat.cfg: the wiring of issue 16, end to end.

The weights only load into the same tok2vec architecture, and only when the training config's [pretraining] names
the component: spaCy skips init_tok2vec, silently, when [pretraining] is empty.
"""

import subprocess
import sys
from pathlib import Path

import numpy
import pytest
from spacy import util
from spacy.tokens import DocBin
from spacy.training.initialize import init_nlp
from thinc.api import Config

from helpers import CONFIGS
from helpers.clinical_notes import NOTES, note_records
from spacy_clinical_pt.corpus import ConversionReport, build_docs
from spacy_clinical_pt.notes import collect_notes
from spacy_clinical_pt.tokenizer import clinical_nlp

PRETRAIN_CONFIG = CONFIGS / "pretrain_cnn.cfg"
TRAINING_CONFIGS = ["cnn_tagger_spancat.cfg", "cnn.cfg"]
# Twenty notes: the twelve of the training corpus and eight that have no annotation anywhere.
UNLABELLED = [
    "Paciente em bom estado geral, corado e hidratado.",
    "Refere cefaleia frontal há três dias, sem vômitos.",
    "Pressão arterial 130x80 mmHg, frequência cardíaca 72 bpm.",
    "Glicemia de jejum 110 mg/dL; solicitada hemoglobina glicada.",
    "Ausculta pulmonar com murmúrio vesicular presente, sem ruídos adventícios.",
    "Retorno em trinta dias com exames.",
    "Mantém metformina 850mg duas vezes ao dia.",
    "Nega tabagismo e etilismo.",
]


def tok2vec_section(config: Config) -> dict:
    return {key: value for key, value in config["components"].items() if key == "tok2vec"}


@pytest.mark.parametrize("name", TRAINING_CONFIGS)
def test_the_pretrained_tok2vec_is_the_tok2vec_of_the_training_configs(name):
    pretrain = Config().from_disk(PRETRAIN_CONFIG, interpolate=False)
    training = Config().from_disk(CONFIGS / name, interpolate=False)

    assert tok2vec_section(pretrain) == tok2vec_section(training)
    assert pretrain["nlp"]["tokenizer"] == training["nlp"]["tokenizer"]


@pytest.mark.parametrize("name", TRAINING_CONFIGS)
def test_the_training_configs_say_where_init_tok2vec_loads(name):
    # An empty [pretraining] makes spaCy skip init_tok2vec without a word (Language.initialize).
    pretraining = Config().from_disk(CONFIGS / name, interpolate=False)["pretraining"]

    assert (pretraining.get("component"), pretraining.get("layer")) == ("tok2vec", ""), name


@pytest.mark.parametrize("name", [*TRAINING_CONFIGS, "spancat_cnn.cfg", "continue_cnn.cfg"])
def test_the_training_configs_pretraining_block_is_pretrain_cnns(name):
    # One block in four configs: the copy that `spacy pretrain` runs is the one they describe.
    pretrain = Config().from_disk(PRETRAIN_CONFIG, interpolate=False)["pretraining"]

    assert Config().from_disk(CONFIGS / name, interpolate=False)["pretraining"] == pretrain


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    """model0.bin of one epoch of `spacy pretrain` on the notes, batches of 100 words (a few updates)."""
    folder = tmp_path_factory.mktemp("pretrain")
    for number, text in enumerate([text for text, _ in NOTES] + UNLABELLED):
        (folder / "notas").mkdir(exist_ok=True)
        (folder / "notas" / f"{number:02d}.txt").write_text(text, encoding="utf8")
    assert collect_notes([folder / "notas"], folder / "notes.jsonl").written == 20
    subprocess.run(
        [sys.executable, "-m", "spacy", "pretrain", str(PRETRAIN_CONFIG), str(folder / "out"),
         "--paths.raw_text", str(folder / "notes.jsonl"), "--pretraining.max_epochs", "1",
         "--pretraining.batcher.size", "100"],
        check=True, capture_output=True,
    )
    assert sorted(p.name for p in (folder / "out").glob("*.bin")) == ["model-last.bin", "model0.bin"]
    return folder / "out" / "model0.bin"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    DocBin(docs=list(build_docs(clinical_nlp(), note_records(), ConversionReport()))).to_disk(folder / "train.spacy")
    return folder / "train.spacy"


def initialized_tok2vec(corpus: Path, init_tok2vec: Path | None):
    """The tok2vec model of configs/cnn_tagger_spancat.cfg once `spacy train` has initialised the pipeline."""
    overrides = {"paths.train": str(corpus), "paths.dev": str(corpus),
                 "paths.init_tok2vec": str(init_tok2vec) if init_tok2vec else None}
    config = util.load_config(CONFIGS / "cnn_tagger_spancat.cfg", overrides=overrides, interpolate=False)
    return init_nlp(config).get_pipe("tok2vec").model


def pretrained_tok2vec(weights: Path):
    """The pretrained weights loaded as spaCy loads them: the bytes into the tok2vec model's `from_bytes`."""
    nlp = util.load_model_from_config(util.load_config(PRETRAIN_CONFIG))
    nlp.initialize()
    return nlp.get_pipe("tok2vec").model.from_bytes(weights.read_bytes())


def parameters(model) -> list[tuple[str, numpy.ndarray]]:
    return [(f"{node.name}.{name}", node.get_param(name)) for node in model.walk() for name in node.param_names
            if node.has_param(name)]


def test_init_tok2vec_loads_the_pretrained_weights(pretrained, corpus):
    expected = parameters(pretrained_tok2vec(pretrained))
    loaded = parameters(initialized_tok2vec(corpus, pretrained))

    assert [name for name, _ in loaded] == [name for name, _ in expected]
    assert len(expected) > 10  # the four hash embeddings, the mixer, four encoder layers
    for (name, got), (_, want) in zip(loaded, expected):
        assert numpy.array_equal(got, want), name


def test_without_init_tok2vec_the_weights_are_not_the_pretrained_ones(pretrained, corpus):
    expected = dict(parameters(pretrained_tok2vec(pretrained)))
    fresh = parameters(initialized_tok2vec(corpus, None))

    assert not any(numpy.array_equal(got, expected[name]) for name, got in fresh if got.any())
