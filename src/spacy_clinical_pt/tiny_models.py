"""Tiny encoders of the SAME architecture classes as the benchmark's, built offline for the tests.

No model hub is reachable here, so the tests cannot load `jhu-clsp/mmBERT-base` or `pucpr/biobertpt-clin`. They
load folders built here instead, which exercise the same code paths in transformers and spacy-transformers:

- `bert`: `BertModel` + a WordPiece `BertTokenizerFast` (what BioBERTpt, BERTimbau and MiniLM are).
- `mmbert`: `ModernBertModel` + a SentencePiece-style BPE with byte fallback (`▁` word marker, unknown characters
  become `<0xNN>` byte pieces), the family of mmBERT's Gemma-2 tokenizer.
- `modernbert`: `ModernBertModel` + a GPT-NeoX-style byte-level BPE (`Ġ` word marker), ModernBERT's tokenizer.

The ModernBERT tokenizers set `model_input_names = ["input_ids", "attention_mask"]`, as the real ones do:
`ModernBertModel.forward` takes no `token_type_ids`, and spacy-transformers passes them whenever the tokenizer
emits them. All tokenizers keep `model_max_length = 512`, the paper's input length, so spacy-transformers'
own truncation is active and the tests can check that windows never reach it.

Every folder is built once per test process (`tiny_model_dir`), in a temporary folder removed at exit.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

# Nothing here may try the network: a hub lookup on an offline machine waits for timeouts.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MAX_LENGTH = 512
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
KINDS = ("bert", "mmbert", "modernbert")

# Hand-written Brazilian-Portuguese clinical sentences (no real patient text): the tokenizers' training text.
CLINICAL_SENTENCES = [
    "Paciente de 67 anos, sexo masculino, admitido com dor torácica há duas horas.",
    "Nega dispneia, febre ou tosse. Refere náuseas e sudorese.",
    "Hipertenso, diabético tipo 2, em uso de losartana 50 mg e metformina 850 mg.",
    "Ao exame: PA 160x90 mmHg, FC 98 bpm, SatO2 94% em ar ambiente.",
    "Ausculta pulmonar com estertores crepitantes em base direita.",
    "ECG com supradesnivelamento do segmento ST em parede inferior.",
    "Troponina elevada. Iniciado AAS, clopidogrel e heparina.",
    "Encaminhado à hemodinâmica para cateterismo cardíaco de urgência.",
    "Paciente evolui estável, sem queixas, aceitando dieta via oral.",
    "Apresenta edema em membros inferiores, mais acentuado à esquerda.",
    "Tomografia de crânio sem alterações agudas.",
    "Histórico de AVC isquêmico em 2019, sem sequelas motoras.",
    "Dor abdominal difusa, pior em fossa ilíaca direita, com sinal de Blumberg positivo.",
    "Hemograma: leucocitose com desvio à esquerda; PCR 12 mg/dL.",
    "Suspeita de apendicite aguda; solicitada avaliação da cirurgia geral.",
    "Mãe refere que a criança apresenta tosse produtiva e coriza há cinco dias.",
    "Otoscopia com hiperemia e abaulamento da membrana timpânica esquerda.",
    "Prescrito amoxicilina 50 mg/kg/dia por dez dias.",
    "Gestante de 32 semanas com cefaleia, escotomas e pressão arterial elevada.",
    "Proteinúria de 24 horas de 450 mg; hipótese de pré-eclâmpsia.",
    "Fratura de rádio distal à direita após queda da própria altura.",
    "Realizada redução fechada e imobilização gessada.",
    "Paciente com insuficiência renal crônica em hemodiálise três vezes por semana.",
    "Creatinina 6,8 mg/dL, potássio 5,9 mEq/L, ureia 180 mg/dL.",
    "Nódulo pulmonar de 1,2 cm no lobo superior esquerdo, a esclarecer.",
    "Queixa de disúria, polaciúria e urgência miccional há três dias.",
    "Urocultura positiva para Escherichia coli sensível a nitrofurantoína.",
    "Lesão eritematosa e descamativa em cotovelos e joelhos, compatível com psoríase.",
    "Alta hospitalar com orientações e retorno ambulatorial em duas semanas.",
    "Sem alergias medicamentosas conhecidas. Tabagista 30 maços-ano.",
]


@lru_cache(maxsize=None)
def _base_dir() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="tiny-encoders-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


@lru_cache(maxsize=None)
def tiny_model_dir(kind: str) -> Path:
    """A saved tiny model folder of `kind` (`bert`, `mmbert`, `modernbert`), built once per process."""
    if kind not in KINDS:
        raise ValueError(f"unknown tiny model {kind!r}: use one of {', '.join(KINDS)}")
    folder = _base_dir() / kind
    folder.mkdir()
    tokenizer = build_tokenizer(kind, CLINICAL_SENTENCES)
    tokenizer.save_pretrained(str(folder))
    model = build_model(kind, tokenizer)
    model.save_pretrained(str(folder))
    return folder


def build_tokenizer(kind: str, texts: list[str], vocab_size: int = 400):
    """Train the fast tokenizer of `kind` on `texts` and wrap it as transformers saves and loads it."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertTokenizerFast, PreTrainedTokenizerFast

    if kind == "bert":
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
        tok.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False, clean_text=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS)
    elif kind == "mmbert":
        # SentencePiece-style: `▁` marks a word start, unknown characters fall back to their UTF-8 bytes.
        byte_pieces = [f"<0x{b:02X}>" for b in range(256)]
        tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=True))
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
        tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace(replacement="▁")])
        trainer = trainers.BpeTrainer(vocab_size=vocab_size + 256, special_tokens=SPECIAL_TOKENS + byte_pieces)
    elif kind == "modernbert":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size + 256,
            special_tokens=SPECIAL_TOKENS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
    else:
        raise ValueError(f"unknown tiny model {kind!r}")
    tok.train_from_iterator(texts, trainer=trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    template = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    if kind == "modernbert":
        # Byte-level offsets include the leading space; trim them as ModernBERT's tokenizer does.
        tok.post_processor = processors.Sequence([processors.ByteLevel(trim_offsets=True), template])
    else:
        tok.post_processor = template
    specials = dict(pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    if kind == "bert":
        return BertTokenizerFast(tokenizer_object=tok, model_max_length=MAX_LENGTH, do_lower_case=False, **specials)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        model_max_length=MAX_LENGTH,
        bos_token="[CLS]",
        eos_token="[SEP]",
        model_input_names=["input_ids", "attention_mask"],  # ModernBertModel takes no token_type_ids
        **specials,
    )


def build_model(kind: str, tokenizer):
    """A randomly initialised tiny `BertModel` or `ModernBertModel` (hidden 32, 2 layers) for `tokenizer`."""
    import torch
    from transformers import BertConfig, BertModel, ModernBertConfig, ModernBertModel

    torch.manual_seed(0)
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=MAX_LENGTH,
        pad_token_id=tokenizer.pad_token_id,
    )
    if kind == "bert":
        return BertModel(BertConfig(**common))
    config = ModernBertConfig(
        **common,
        cls_token_id=tokenizer.cls_token_id,
        sep_token_id=tokenizer.sep_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
        local_attention=16,  # sliding-window layers as in the real models, on a scale the tests reach
        global_attn_every_n_layers=2,
    )
    return ModernBertModel(config)
