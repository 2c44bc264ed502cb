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

    if mode not in QUANTIZE_MODES:
        raise ValueError(f"unknown quantization {mode!r}: use one of {', '.join(QUANTIZE_MODES)}")
    names = [name for name, pipe in nlp.pipeline if isinstance(pipe, Transformer)]
    if not names:
        raise ValueError("the pipeline has no transformer component (a CNN pipeline): nothing to quantize")
    for name in names:
        pipe = nlp.get_pipe(name)
        shim = pipe.model.layers[0].shims[0]
        if pipe.cfg.get("quantized") == mode:
            continue
        quantized = torch.ao.quantization.quantize_dynamic(shim._model.eval(), {torch.nn.Linear}, dtype=torch.qint8)
        # The shim runs `_model`; the span getter and the tokenizer read `_hfmodel.transformer`: both must agree.
        shim._model = quantized
        shim._hfmodel.transformer = quantized
        pipe.cfg["quantized"] = mode
    return names


@registry.callbacks("spacy_clinical_pt.quantize.v1")
def create_quantize_callback(mode: str = "int8") -> Callable[[Language], Language]:
    """A callback for `[initialize.after_init]`: the initialized pipeline's encoders quantized to `mode`."""
    if mode not in QUANTIZE_MODES:
        raise ValueError(f"unknown quantization {mode!r}: use one of {', '.join(QUANTIZE_MODES)}")

    def quantize(nlp: Language) -> Language:
        quantize_pipeline(nlp, mode)
        return nlp

    return quantize
