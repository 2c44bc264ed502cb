"""int8 dynamic quantization of a transformer pipeline built from configs/transformer.cfg on tiny encoders."""

from __future__ import annotations

from pathlib import Path

import numpy
import pytest
import spacy
from spacy.training import Example
from spacy_clinical_pt.quantize import QUANTIZE_MODES, quantize_pipeline
from spacy_clinical_pt.tiny_models import CLINICAL_SENTENCES, tiny_model_dir

REPO = Path(__file__).resolve().parents[2]
NOTES = [" ".join(CLINICAL_SENTENCES[i : i + 4]) for i in range(0, 24, 4)]


def tiny_pipeline(kind: str, **overrides):
    overrides = {"encoder.name": str(tiny_model_dir(kind)), **overrides}
    config = spacy.util.load_config(REPO / "configs" / "transformer.cfg", overrides=overrides, interpolate=True)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    doc = nlp.make_doc(NOTES[0])
    doc.spans["sc"] = [doc.char_span(0, 8, label="Problema")]
    nlp.initialize(lambda: [Example(nlp.make_doc(doc.text), doc)])
    return nlp


def hidden_states(nlp) -> list[numpy.ndarray]:
    return [numpy.asarray(doc._.trf_data.model_output.last_hidden_state) for doc in nlp.pipe(NOTES)]


@pytest.mark.parametrize("kind", ["bert", "modernbert"])
def test_int8_replaces_every_linear_and_stays_close(kind):
    import torch

    nlp = tiny_pipeline(kind)
    before = hidden_states(nlp)
    assert quantize_pipeline(nlp, "int8") == ["transformer"]
    encoder = nlp.get_pipe("transformer").model.layers[0].shims[0]._model
    modules = list(encoder.modules())
    assert not any(type(m) is torch.nn.Linear for m in modules)
    assert any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in modules)
    after = hidden_states(nlp)
    # Measured on these notes: the largest difference relative to the largest activation is 5.6e-4 (bert) and
    # 9.1e-5 (modernbert); the bound 1e-2 leaves room and still fails on a wrong model.
    for a, b in zip(before, after):
        assert a.shape == b.shape
        assert numpy.abs(a - b).max() <= 1e-2 * numpy.abs(a).max()
        assert not numpy.array_equal(a, b)  # the int8 path really ran


def test_quantizing_twice_is_once():
    nlp = tiny_pipeline("bert")
    quantize_pipeline(nlp)
    encoder = nlp.get_pipe("transformer").model.layers[0].shims[0]._model
    quantize_pipeline(nlp)
    assert nlp.get_pipe("transformer").model.layers[0].shims[0]._model is encoder
    assert nlp.get_pipe("transformer").cfg["quantized"] == "int8"


def test_errors_name_the_modes_and_the_missing_transformer():
    with pytest.raises(ValueError, match="unknown quantization 'int4': use one of int8"):
        quantize_pipeline(spacy.blank("pt"), "int4")
    nlp = spacy.blank("pt")
    nlp.add_pipe("tok2vec")
    with pytest.raises(ValueError, match="no transformer component"):
        quantize_pipeline(nlp)
    assert QUANTIZE_MODES == ("int8",)


def test_the_callback_quantizes_after_initialize():
    import torch

    nlp = tiny_pipeline("bert", **{"initialize.after_init": {"@callbacks": "spacy_clinical_pt.quantize.v1"}})
    assert nlp.get_pipe("transformer").cfg["quantized"] == "int8"
    encoder = nlp.get_pipe("transformer").model.layers[0].shims[0]._model
    assert any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in encoder.modules())
