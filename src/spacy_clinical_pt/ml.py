"""Thinc architectures of the package.

`spacy_clinical_pt.MultilabelTokenTagger.v1`: tok2vec -> one linear layer -> one logit per token and output
column. The sigmoid is not part of the model: `ClinicalTagger.predict` applies it and the loss works on the
logits directly (binary cross-entropy with logits is numerically stable where sigmoid-then-log is not).

`spacy_clinical_pt.TransformerModel.v1`: spacy-transformers' `TransformerModel.v3`, with its span getter bound to
the model, so that a `wordpiece_budget_spans` getter counts wordpieces with the tokenizer the transformer really
uses (the one saved inside the pipeline), even offline where the encoder's hub name cannot be loaded.
"""

from __future__ import annotations

from typing import Callable, List, Optional

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Linear, Model, chain, with_array, zero_init
from thinc.types import Floats2d


@registry.architectures("spacy_clinical_pt.MultilabelTokenTagger.v1")
def build_multilabel_token_tagger(
    tok2vec: Model[List[Doc], List[Floats2d]], nO: Optional[int] = None
) -> Model[List[Doc], List[Floats2d]]:
    """Build a multilabel token tagger: independent logits per token and output column.

    tok2vec: the token encoder, inline or a listener of a shared `tok2vec` / `transformer` component; per doc it
        gives an array of shape (n_tokens, width).
    nO: the number of output columns (labels for IO, twice the labels for BIO); left None, the component sets it
        at `initialize` from its labels and scheme.
    RETURNS: a model mapping a batch of docs to one array of LOGITS per doc, shape (n_tokens, nO).
    """
    # Zero weights start every column at probability 0.5, as spaCy's tagger starts its softmax uniform.
    output_layer = Linear(nO=nO, init_W=zero_init)
    model = chain(tok2vec, with_array(output_layer))
    model.name = "multilabel_token_tagger"
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("output_layer", output_layer)
    return model


@registry.architectures("spacy_clinical_pt.TransformerModel.v1")
def build_transformer_model(
    name: str,
    get_spans: Callable,
    tokenizer_config: dict = {},
    transformer_config: dict = {},
    mixed_precision: bool = False,
    grad_scaler_config: dict = {},
) -> Model:
    """spacy-transformers' `TransformerModel.v3` (same arguments), its span getter bound to the model.

    get_spans: the window getter; one with a `bind(model)` method (`wordpiece_budget_spans.v1`) is given the
        model, and reads the model's own Hugging Face tokenizer once the transformer is initialized or loaded.
    RETURNS: the `TransformerModel`, unchanged otherwise.
    """
    from spacy_transformers.architectures import create_TransformerModel_v3

    model = create_TransformerModel_v3(
        name, get_spans, tokenizer_config, transformer_config, mixed_precision, grad_scaler_config
    )
    if hasattr(get_spans, "bind"):
        get_spans.bind(model)
    return model
