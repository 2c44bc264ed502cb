"""Continue training from a trained pipeline on a corpus with a new label (configs/continue_cnn.cfg, grow.py).

Corpus A (Problema, Teste) trains configs/cnn_tagger_spancat.cfg; corpus B (Problema, Medicamento) continues from
it. Right after initialization the tok2vec is A's, the tagger's old columns are A's and predict as A's did, the
new label's columns are fresh; after training the pipeline has every label, saves and loads the same.
"""

import numpy
import pytest
import spacy
from spacy.tokens import DocBin
from spacy.training.initialize import init_nlp
from spacy.util import load_config
from thinc.api import Config

import spacy_clinical_pt.grow  # noqa: F401  (registers spacy_clinical_pt.grow_labels.v1 in this process)
from helpers import CONFIGS
from spacy_clinical_pt.corpus import ConversionReport, Entity, Record, build_docs
from spacy_clinical_pt.grow import grow_labels, grow_output_layer
from spacy_clinical_pt.tokenizer import clinical_nlp

CORPUS_A = [
    ("Paciente com dor no peito.", [("dor no peito", "Problema")]),
    ("Hemograma normal.", [("Hemograma", "Teste")]),
    ("Febre e tosse; raio-x pedido.", [("Febre", "Problema"), ("tosse", "Problema"), ("raio-x", "Teste")]),
    ("Creatinina elevada.", [("Creatinina", "Teste")]),
    ("Sem queixas hoje.", []),
]
CORPUS_B = [
    ("Dor de cabeça, iniciado paracetamol.", [("Dor de cabeça", "Problema"), ("paracetamol", "Medicamento")]),
    ("Em uso de losartana.", [("losartana", "Medicamento")]),
    ("Febre alta.", [("Febre alta", "Problema")]),
    ("Suspenso ibuprofeno por náusea.", [("ibuprofeno", "Medicamento"), ("náusea", "Problema")]),
]
TEXTS = ["Febre e dor de cabeça, em uso de paracetamol.", "Hemograma pedido."]
# The narrow CNN of tests/pipeline/test_train_cnn.py; the fresh spancat's listener must match its width.
NARROW = {"components.tok2vec.model.encode.width": 48, "components.tok2vec.model.encode.depth": 2}


def docbin(notes, path):
    """Write `notes` ((text, [(piece, label)...]), pieces found left to right) as a DocBin at `path`."""
    records = []
    for number, (text, entities) in enumerate(notes):
        found, cursor = [], 0
        for piece, label in entities:
            start = text.index(piece, cursor)
            cursor = start + 1
            found.append(Entity(start, start + len(piece), label, id=f"T{len(found) + 1}"))
        records.append(Record(f"note{number}", text, found))
    DocBin(docs=list(build_docs(clinical_nlp(), records, ConversionReport()))).to_disk(path)
    return path


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpora")
    return docbin(CORPUS_A, folder / "a.spacy"), docbin(CORPUS_B, folder / "b.spacy")


@pytest.fixture(scope="module")
def base(corpora, tmp_path_factory):
    """configs/cnn_tagger_spancat.cfg trained a few steps on corpus A: the pipeline to continue from."""
    from spacy.cli.train import train

    output = tmp_path_factory.mktemp("base")
    a = str(corpora[0])
    train(CONFIGS / "cnn_tagger_spancat.cfg", output, overrides={
        "paths.train": a, "paths.dev": a, **NARROW, "training.max_steps": 12, "training.eval_frequency": 6,
    })
    return output / "model-last"


def continue_overrides(base, corpora, steps=12):
    b = str(corpora[1])
    return {
        "paths.base_model": str(base), "paths.train": b, "paths.dev": b,
        "components.spancat.model.tok2vec.width": 48, "training.max_steps": steps, "training.eval_frequency": 6,
    }


def tagger_probs(nlp, text):
    """The clinical_tagger's probabilities on `text`, (n_tokens, n_columns), running tok2vec and the tagger."""
    doc = nlp.get_pipe("tok2vec")(nlp.make_doc(text))
    return nlp.get_pipe("clinical_tagger").predict_proba([doc])[0]


def test_recipe_keeps_the_training_blocks_of_the_two_stage_config():
    recipe = Config().from_disk(CONFIGS / "continue_cnn.cfg").interpolate()
    original = Config().from_disk(CONFIGS / "cnn_tagger_spancat.cfg").interpolate()
    for block in ("system", "nlp", "corpora", "training"):  # training: its optimizer, batcher, score weights too
        assert recipe[block] == original[block], block
    assert recipe["components"]["spancat"] == original["components"]["spancat"]
    assert recipe["components"]["tok2vec"] == {"source": None}
    assert recipe["components"]["clinical_tagger"] == {"source": None}
    assert recipe["paths"] == {**original["paths"], "base_model": None}
    after_init = recipe["initialize"].pop("after_init")
    assert after_init == {
        "@callbacks": "spacy_clinical_pt.grow_labels.v1", "corpus": original["corpora"]["train"],
        "components": ["clinical_tagger"],
    }
    assert original["initialize"].pop("after_init") is None
    assert recipe["initialize"] == original["initialize"]


def test_right_after_initialization_the_base_is_kept_and_the_new_label_added(base, corpora):
    config = load_config(CONFIGS / "continue_cnn.cfg", overrides=continue_overrides(base, corpora))
    nlp = init_nlp(config)
    old = spacy.load(base)
    assert nlp.pipe_names == ["tok2vec", "clinical_tagger", "spancat"]
    assert nlp.get_pipe("tok2vec").model.to_bytes() == old.get_pipe("tok2vec").model.to_bytes()
    tagger, old_tagger = nlp.get_pipe("clinical_tagger"), old.get_pipe("clinical_tagger")
    assert old_tagger.labels == ("Problema", "Teste")
    assert tagger.labels == ("Problema", "Teste", "Medicamento")
    assert tagger.columns[6:] == ["B-Medicamento", "I-Medicamento", "E-Medicamento"]
    layer, old_layer = tagger.model.get_ref("output_layer"), old_tagger.model.get_ref("output_layer")
    assert layer.get_param("W").shape == (9, 48) and layer.get_param("b").shape == (9,)
    numpy.testing.assert_array_equal(layer.get_param("W")[:6], old_layer.get_param("W"))
    numpy.testing.assert_array_equal(layer.get_param("b")[:6], old_layer.get_param("b"))
    assert not layer.get_param("W")[6:].any() and not layer.get_param("b")[6:].any()  # as a fresh layer: zeros
    for text in TEXTS:
        probs = tagger_probs(nlp, text)
        numpy.testing.assert_array_equal(probs[:, :6], tagger_probs(old, text))
        assert (probs[:, 6:] == 0.5).all()
    # inverse_token_freq, sqrt(tokens without / tokens with), on B's 20 tokens: Problema's B, I (a token after
    # the first) and E on 3 tokens each, Medicamento's B and E on 3, its I on none (weight 1). Teste, absent from
    # B, keeps A's weights.
    weights = tagger.class_weights
    for column in ("B-Problema", "I-Problema", "E-Problema", "B-Medicamento", "E-Medicamento"):
        assert weights[column] == pytest.approx((17 / 3) ** 0.5), column
    assert weights["I-Medicamento"] == 1.0
    assert {c: weights[c] for c in ("B-Teste", "I-Teste", "E-Teste")} == {
        c: old_tagger.class_weights[c] for c in ("B-Teste", "I-Teste", "E-Teste")
    }
    assert nlp.get_pipe("spancat").labels == ("Problema", "Medicamento")  # fresh, on B


def test_continued_pipeline_trains_saves_and_loads_with_every_label(base, corpora, tmp_path):
    from spacy.cli.train import train

    train(CONFIGS / "continue_cnn.cfg", tmp_path / "continued", overrides=continue_overrides(base, corpora))
    nlp = spacy.load(tmp_path / "continued" / "model-last")
    tagger = nlp.get_pipe("clinical_tagger")
    assert tagger.labels == ("Problema", "Teste", "Medicamento")
    assert tagger.model.get_ref("output_layer").get_param("W")[6:].any()  # the new columns learned
    docs = list(nlp.pipe(TEXTS))
    assert [doc._.clinical_probs.shape[1] for doc in docs] == [9, 9]
    assert {s.label_ for doc in docs for s in doc.spans["sc"]} <= {"Problema", "Medicamento"}
    nlp.to_disk(tmp_path / "again")
    reloaded = spacy.load(tmp_path / "again")
    assert reloaded.get_pipe("clinical_tagger").cfg == tagger.cfg
    for doc, again in zip(docs, reloaded.pipe(TEXTS)):
        numpy.testing.assert_array_equal(again._.clinical_probs, doc._.clinical_probs)
        assert [(s.start, s.end, s.label_) for s in again.spans["sc"]] == [
            (s.start, s.end, s.label_) for s in doc.spans["sc"]
        ]


def test_growing_keeps_old_rows_by_name_and_refuses_to_drop_a_column():
    from thinc.api import Linear

    layer = Linear(nO=2, nI=3)
    layer.initialize()
    layer.set_param("W", numpy.arange(6, dtype="float32").reshape(2, 3))
    layer.set_param("b", numpy.asarray([7.0, 8.0], dtype="float32"))
    grow_output_layer(layer, ["I-A", "I-B"], ["I-A", "I-C", "I-B"])
    assert layer.get_dim("nO") == 3
    numpy.testing.assert_array_equal(layer.get_param("W")[[0, 2]], [[0, 1, 2], [3, 4, 5]])
    numpy.testing.assert_array_equal(layer.get_param("b")[[0, 2]], [7.0, 8.0])
    with pytest.raises(ValueError, match="would drop the column\\(s\\) I-B"):
        grow_output_layer(layer, ["I-A", "I-C", "I-B"], ["I-A", "I-C"])


def test_growing_on_a_corpus_without_spans_is_an_error(base, corpora):
    tagger = spacy.load(base).get_pipe("clinical_tagger")
    empty = list(build_docs(clinical_nlp(), [Record("n", "Sem queixas.", [])], ConversionReport()))
    with pytest.raises(ValueError, match=r"clinical_tagger: the training docs hold no spans under doc.spans\['sc'\]"):
        grow_labels(tagger, empty)
    assert tagger.labels == ("Problema", "Teste")


def test_a_listener_narrower_or_wider_than_the_base_tok2vec_is_named_before_training(base, corpora):
    # The base's tok2vec is 48 wide; the recipe's spancat listener says 96 (configs/cnn_tagger_spancat.cfg's width).
    overrides = continue_overrides(base, corpora)
    del overrides["components.spancat.model.tok2vec.width"]
    config = load_config(CONFIGS / "continue_cnn.cfg", overrides=overrides)
    expected = (
        r"^spancat listens to tok2vec with width 96, but tok2vec gives 48: set the width of spancat's "
        r"Tok2VecListener to 48 \(e.g. --components.spancat.model.tok2vec.width 48\)$"
    )
    with pytest.raises(ValueError, match=expected):
        init_nlp(config)
