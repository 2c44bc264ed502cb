"""int8 inference for transformer pipelines: dynamic quantization of the encoder's Linear layers, at load.

`quantize_pipeline(nlp, "int8")` replaces every `torch.nn.Linear` of the Hugging Face encoder inside each
spacy-transformers `Transformer` component by its dynamically quantized int8 counterpart (int8 weights,
activations quantized per batch). It uses `torch.ao.quantization.quantize_dynamic`: deprecated in torch 2.13 in
favour of torchao, but it runs the fbgemm/x86 int8 kernels in eager mode with no new dependency, where torchao's
CPU int8 speed relies on `torch.compile`. The change is in memory only: spacy-transformers cannot reload a
quantized state dict, so quantize after `spacy.load`, never before `to_disk` (the component's cfg records it).
"""

from __future__ import annotations

from typing import Callable

from spacy.language import Language
from spacy.util import registry

QUANTIZE_MODES = ("int8",)


def quantize_pipeline(nlp: Language, mode: str = "int8") -> list[str]:
    """Quantize, in place, the encoder of every transformer component of `nlp`.

    mode: one of QUANTIZE_MODES.
    RETURNS: the names of the components quantized. Raises ValueError for an unknown mode and for a pipeline
        without a transformer component.
    """
    import torch
    from spacy_transformers import Transformer

    _check_mode(mode)
    transformers = [(name, pipe) for name, pipe in nlp.pipeline if isinstance(pipe, Transformer)]
    if not transformers:
        raise ValueError("the pipeline has no transformer component (a CNN pipeline): nothing to quantize")
    for _, pipe in transformers:
        if pipe.cfg.get("quantized") == mode:
            continue
        shim = pipe.model.layers[0].shims[0]
        quantized = torch.ao.quantization.quantize_dynamic(shim._model.eval(), {torch.nn.Linear}, dtype=torch.qint8)
        # The shim runs `_model`; the input conversion (for its device) and serialization read
        # `_hfmodel.transformer`: both must be the quantized module.
        shim._model = quantized
        shim._hfmodel.transformer = quantized
        pipe.cfg["quantized"] = mode
    return [name for name, _ in transformers]


@registry.callbacks("spacy_clinical_pt.quantize.v1")
def create_quantize_callback(mode: str = "int8") -> Callable[[Language], Language]:
    """A callback for `[initialize.after_init]`: the initialized pipeline's encoders quantized to `mode`."""
    _check_mode(mode)

    def quantize(nlp: Language) -> Language:
        quantize_pipeline(nlp, mode)
        return nlp

    return quantize


def _check_mode(mode: str) -> None:
    """ValueError naming the modes when `mode` is not one of QUANTIZE_MODES."""
    if mode not in QUANTIZE_MODES:
        raise ValueError(f"unknown quantization {mode!r}: use one of {', '.join(QUANTIZE_MODES)}")
