"""Continued masked-language-model training of a transformer encoder on unlabelled notes (domain-adaptive
pretraining), for `spacy-clinical-pt pretrain-mlm`.

Notes (a JSONL file of `{"text": ...}` lines, or a folder of UTF-8 `.txt` files) are cut with the model's fast
tokenizer into consecutive windows of at most `max_length` positions, special tokens included: a long note gives
several windows, nothing is truncated away. `transformers.DataCollatorForLanguageModeling` masks them and a plain
torch loop trains `AutoModelForMaskedLM` (AdamW, linear warm-up then decay, gradient clipping and accumulation).
The output folder holds the model and its tokenizer (`save_pretrained`), so it is a `--encoder.name` for
`configs/transformer.cfg`, and `pretrain_mlm.json`: the settings, counts and losses, never text.

Nothing is downloaded: the model must be a local folder or already in the Hugging Face cache.
"""

from __future__ import annotations

import inspect
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .corpus import ConversionError
from .encoders import resolve_encoder

RESULTS_FILE = "pretrain_mlm.json"
DEFAULT_MLM_PROBABILITY = 0.15
WEIGHT_DECAY = 0.01
GRAD_CLIP = 1.0
TOKENIZE_BATCH = 256  # notes per call of the fast tokenizer


@dataclass
class MLMSettings:
    """How to train. steps: optimizer updates; batch_size: windows per forward pass; accumulate: forward passes
    per update; learn_rate: the peak rate; warmup: updates of linear warm-up (then linear decay to 0);
    max_length: positions per window, special tokens included; mlm_probability: share of tokens masked;
    seed: for the initialisation of new weights, the order of windows and the masks."""

    steps: int = 1000
    batch_size: int = 16
    accumulate: int = 1
    learn_rate: float = 5e-5
    warmup: int = 100
    max_length: int = 512
    mlm_probability: float = DEFAULT_MLM_PROBABILITY
    seed: int = 0

    def check(self) -> None:
        """Raise ValueError for settings without meaning."""
        for name in ("steps", "batch_size", "accumulate", "max_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be 0 or more updates, got {self.warmup}")
        if not 0 < self.mlm_probability < 1:
            raise ValueError(f"mlm_probability must be between 0 and 1, got {self.mlm_probability}")
        if not self.learn_rate > 0:
            raise ValueError(f"learn_rate must be above 0, got {self.learn_rate}")


@dataclass
class MLMResult:
    """What a run did. losses: the mean masked-LM loss of each update, in order; new_weights: the model's
    weights the base folder did not hold (a masked-LM head trained from scratch)."""

    base_model: str
    notes: int
    windows: int
    long_notes: int
    tokens: int
    settings: MLMSettings
    device: str
    losses: list[float] = field(default_factory=list)
    new_weights: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The contents of `pretrain_mlm.json` (counts, settings, first and final loss; no text)."""
        return {
            "base_model": self.base_model,
            "notes": self.notes,
            "windows": self.windows,
            "long_notes": self.long_notes,
            "tokens": self.tokens,
            **asdict(self.settings),
            "device": self.device,
            "first_loss": self.losses[0] if self.losses else None,
            "final_loss": self.losses[-1] if self.losses else None,
            "new_weights": len(self.new_weights),
        }


def read_note_texts(source: Path) -> list[str]:
    """The texts of the notes in `source`: a JSONL file of objects with a `text` string (blank lines skipped),
    or a folder whose `.txt` files (any depth, sorted, hidden ones left out) are read as UTF-8; a byte-order mark
    is dropped. Raises ConversionError naming the file, and the line for JSONL, of anything that cannot be read."""
    if source.is_dir():
        # Hidden files and folders left out, as `annotate` does (editor backups, .ipynb_checkpoints copies).
        files = sorted(p for p in source.rglob("*.txt")
                       if p.is_file() and not any(part.startswith(".") for part in p.relative_to(source).parts))
        if not files:
            raise ConversionError(f"{source}: no .txt files in this folder")
        return [_read_utf8(file) for file in files]
    if not source.is_file():
        raise ConversionError(f"{source}: no such file or folder")
    return list(_jsonl_texts(source))


def _read_utf8(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # a byte-order mark is not text (nor valid JSON)
    except UnicodeDecodeError as err:
        raise ConversionError(f"{path}: not UTF-8 (byte {err.start})") from None
    except OSError as err:
        raise ConversionError(f"{path}: cannot read it ({err.strerror})") from None


def _jsonl_texts(path: Path) -> Iterator[str]:
    for number, line in enumerate(_read_utf8(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ConversionError(f"{path} line {number}: not JSON ({err.msg} at column {err.colno})") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise ConversionError(f"{path} line {number}: expected an object with a 'text' string")
        yield record["text"]


def note_windows(texts: list[str], tokenizer, max_length: int) -> tuple[list[list[int]], list[int]]:
    """Each note's token ids cut into consecutive windows of at most `max_length` ids, special tokens included
    (the fast tokenizer's overflowing tokens: no overlap, nothing dropped); empty notes give none.
    RETURNS the windows and the number of windows of each note."""
    windows: list[list[int]] = []
    per_note = [0] * len(texts)
    for start in range(0, len(texts), TOKENIZE_BATCH):
        encoded = tokenizer(
            texts[start : start + TOKENIZE_BATCH],
            truncation=True,
            max_length=max_length,
            stride=0,
            return_overflowing_tokens=True,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        for ids, note in zip(encoded["input_ids"], encoded["overflow_to_sample_mapping"]):
            if len(ids) > tokenizer.num_special_tokens_to_add():  # an empty note is its special tokens alone
                windows.append(ids)
                per_note[start + note] += 1
    return windows, per_note


def torch_device(gpu_id: int) -> str:
    """The torch device of `gpu_id`: "cpu" for -1, else "cuda:N"; ValueError when that GPU is not there."""
    import torch

    if gpu_id < 0:
        return "cpu"
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpu_id >= count:
        raise ValueError(f"--gpu-id {gpu_id}: torch sees {count} CUDA GPU(s) here; use -1 for the CPU")
    return f"cuda:{gpu_id}"


def check_output(output: Path, overwrite: bool) -> None:
    """Raise ValueError when `output` is a file, or a folder that holds files and `overwrite` is off."""
    if output.exists() and not output.is_dir():
        raise ValueError(f"{output}: is a file; OUTPUT is the folder for the model")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise ValueError(f"{output}: the folder is not empty; use --overwrite to write into it")


def load_base(name: str, seed: int):
    """The fast tokenizer and the masked-LM model of encoder `name` (a key of `encoders.ENCODERS`, a Hugging
    Face id in the local cache, or a model folder), never downloaded. RETURNS (resolved name, tokenizer, model,
    names of the weights the folder lacked). Raises LookupError when it is not on this machine."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer, set_seed

    resolved = resolve_encoder(name)
    if Path(resolved).is_dir() and not (Path(resolved) / "config.json").is_file():
        raise LookupError(f"{resolved}: not a model folder (it has no config.json)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved, use_fast=True, local_files_only=True)
        set_seed(seed)  # a head missing from the folder starts from the same weights for the same seed
        model, info = AutoModelForMaskedLM.from_pretrained(resolved, local_files_only=True, output_loading_info=True)
    except OSError:
        raise LookupError(
            f"{resolved}: not found locally; on a machine with the hub, download it first "
            f"(huggingface-cli download {resolved}), or pass a model folder"
        ) from None
    except ValueError as err:  # e.g. a model type transformers has no masked-LM class for
        raise ValueError(f"{resolved}: cannot load it as a masked language model ({str(err).splitlines()[0]})") \
            from None
    if not tokenizer.is_fast:
        raise ValueError(f"{resolved}: its tokenizer is not a fast (Rust) tokenizer, which the windows need")
    if tokenizer.mask_token is None:
        raise ValueError(f"{resolved}: its tokenizer has no mask token, so it cannot be trained as a masked LM")
    return resolved, tokenizer, model, list(info["missing_keys"])


def pretrain_mlm(
    texts: list[str], output: Path, name: str, settings: MLMSettings, gpu_id: int = -1, progress: bool = True
) -> MLMResult:
    """Continue the masked-LM training of encoder `name` on `texts` and save it into `output`.

    texts: the notes; output: the model folder to write (created); name: an encoder key, a Hugging Face id in
    the local cache, or a model folder; settings: how to train; gpu_id: CUDA GPU, -1 for the CPU;
    progress: show a progress bar on stderr (when it is a terminal). Raises ValueError for settings or notes
    that cannot be trained on, LookupError for a model that is not on this machine.
    """
    settings.check()
    device = torch_device(gpu_id)
    base_model, tokenizer, model, new_weights = load_base(name, settings.seed)
    max_positions = getattr(model.config, "max_position_embeddings", None)
    if max_positions is not None and settings.max_length > max_positions:
        raise ValueError(f"max_length {settings.max_length} is over the {max_positions} positions of {base_model}")
    if settings.max_length <= tokenizer.num_special_tokens_to_add():
        raise ValueError(f"max_length {settings.max_length} leaves no room beside the special tokens")
    windows, per_note = note_windows(texts, tokenizer, settings.max_length)
    if not windows:
        raise ValueError(f"no text to train on: the {len(texts)} notes are empty")
    result = MLMResult(
        base_model=base_model,
        notes=sum(1 for n in per_note if n),
        windows=len(windows),
        long_notes=sum(1 for n in per_note if n > 1),
        tokens=sum(map(len, windows)),
        settings=settings,
        device=device,
        new_weights=new_weights,
    )
    model.to(device)
    result.losses = train_mlm(model, tokenizer, windows, settings, device, progress)
    save_model(model, tokenizer, output)
    (output / RESULTS_FILE).write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    return result


def train_mlm(model, tokenizer, windows: list[list[int]], settings: MLMSettings, device: str,
              progress: bool) -> list[float]:
    """Train `model` in place for `settings.steps` updates on `windows` (token ids), masked anew each epoch.
    RETURNS the mean loss of each update."""
    import torch
    from tqdm import tqdm
    from transformers import DataCollatorForLanguageModeling, get_linear_schedule_with_warmup, set_seed

    set_seed(settings.seed)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=settings.mlm_probability)
    loader = torch.utils.data.DataLoader(
        [{"input_ids": ids} for ids in windows],
        batch_size=settings.batch_size,
        shuffle=True,
        collate_fn=collator,
        generator=torch.Generator().manual_seed(settings.seed),
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learn_rate, weight_decay=WEIGHT_DECAY)
    schedule = get_linear_schedule_with_warmup(optimizer, min(settings.warmup, settings.steps), settings.steps)
    batches = _endless(loader)
    losses: list[float] = []
    model.train()
    bar = tqdm(total=settings.steps, desc="pretrain-mlm", unit="step", disable=None if progress else True)
    for _ in range(settings.steps):
        step_losses = []
        for _ in range(settings.accumulate):
            batch = {key: value.to(device) for key, value in next(batches).items()}
            if not (batch["labels"] != -100).any():  # nothing masked in this batch: its loss is not a number
                continue
            loss = model(**batch).loss
            (loss / settings.accumulate).backward()
            step_losses.append(loss.item())
        torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(sum(step_losses) / len(step_losses) if step_losses else math.nan)
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    bar.close()
    model.eval()
    return losses


def _endless(loader) -> Iterator[dict]:
    """The batches of `loader`, epoch after epoch (reshuffled and masked anew each time)."""
    while True:
        yield from loader


def save_model(model, tokenizer, output: Path) -> None:
    """`save_pretrained` the model and its tokenizer into `output`, the tokenizer emitting only inputs the model
    takes: ModernBERT and mmBERT take no token_type_ids, and a tokenizer that emits them breaks the forward pass
    wherever the folder is loaded (spacy-transformers passes every input the tokenizer gives)."""
    from transformers import AutoTokenizer

    accepted = set(inspect.signature(type(model).forward).parameters)
    names = [name for name in tokenizer.model_input_names if name in accepted]
    tokenizer.model_input_names = names
    tokenizer.init_kwargs["model_input_names"] = names  # what save_pretrained writes to tokenizer_config.json
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(output))
    tokenizer.save_pretrained(str(output))
    emitted = set(AutoTokenizer.from_pretrained(str(output), local_files_only=True)("a"))
    if not emitted <= accepted:
        raise ValueError(f"{output}: the saved tokenizer emits {sorted(emitted - accepted)}, which "
                         f"{type(model).__name__} does not take")
