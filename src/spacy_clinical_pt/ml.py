"""Thinc architectures of the package.

`spacy_clinical_pt.MultilabelTokenTagger.v1`: tok2vec -> one linear layer -> one logit per token and output
column. The sigmoid is not part of the model: `ClinicalTagger.predict` applies it and the loss works on the
logits directly (binary cross-entropy with logits is numerically stable where sigmoid-then-log is not).
"""

from __future__ import annotations

from typing import List, Optional

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
