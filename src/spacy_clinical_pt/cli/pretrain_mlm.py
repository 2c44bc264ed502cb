"""The `pretrain-mlm` command: continued masked-LM training of a transformer on unlabelled notes, over
`spacy_clinical_pt.mlm`. Meant for a GPU; the output folder is an `--encoder.name` for configs/transformer.cfg.

    spacy-clinical-pt pretrain-mlm notes.jsonl training/mmbert_dapt --encoder.name mmbert_base --gpu-id 0

Exit codes: 0 trained and written; 1 bad input (notes that cannot be read, a model not on this machine, a GPU
that is not there, an existing OUTPUT without --overwrite), nothing written; 2 bad options.
"""

from pathlib import Path
from typing import Annotated

import typer

from ._util import fail, warn


def pretrain_mlm_command(
    notes: Annotated[
        Path, typer.Argument(help="A JSONL file of {\"text\": ...} lines (as `notes` writes), or a folder of .txt.")
    ],
    output: Annotated[Path, typer.Argument(help="Folder for the trained model and tokenizer (an --encoder.name).")],
    encoder_name: Annotated[
        str,
        typer.Option("--encoder.name", help="The model to continue: an encoder key (mmbert_base), a Hugging Face id "
                                            "in the local cache, or a model folder."),
    ],
    steps: Annotated[int, typer.Option("--steps", min=1, help="Optimizer updates.")] = 1000,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Windows per forward pass.")] = 16,
    accumulate: Annotated[
        int, typer.Option("--accumulate", min=1, help="Forward passes per update (batch-size x accumulate windows).")
    ] = 1,
    learn_rate: Annotated[float, typer.Option("--learn-rate", help="Peak learning rate (AdamW).")] = 5e-5,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Updates of linear warm-up, then linear decay.")] = 100,
    max_length: Annotated[
        int, typer.Option("--max-length", min=1, help="Positions per window, special tokens included.")
    ] = 512,
    mlm_probability: Annotated[
        float,
        typer.Option("--mlm-probability",
                     help="Share of tokens masked: 0.15 as BERT; mmBERT's own training masked 30%, then less."),
    ] = 0.15,
    seed: Annotated[int, typer.Option("--seed", help="Seed of new weights, window order and masks.")] = 0,
    gpu_id: Annotated[int, typer.Option("--gpu-id", help="CUDA GPU to train on; -1 (the default) for the CPU.")] = -1,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Write into a non-empty OUTPUT (files of the same name are replaced).")
    ] = False,
) -> None:
    """Continue a transformer's masked-language-model training on notes.

    The notes are cut into consecutive windows of --max-length tokens (long notes give several, nothing is
    truncated), masked anew each epoch, and trained on for --steps updates. OUTPUT gets the model, its tokenizer
    and pretrain_mlm.json (settings, counts, first and final loss; no text). Nothing is downloaded: a Hugging Face
    id must already be in the local cache.
    """
    from ..corpus import ConversionError
    from ..mlm import MLMSettings, check_output, pretrain_mlm, read_note_texts

    settings = MLMSettings(steps=steps, batch_size=batch_size, accumulate=accumulate, learn_rate=learn_rate,
                           warmup=warmup, max_length=max_length, mlm_probability=mlm_probability, seed=seed)
    try:
        settings.check()
        check_output(output, overwrite)
        texts = read_note_texts(notes)
        result = pretrain_mlm(texts, output, encoder_name, settings, gpu_id=gpu_id)
    except (ConversionError, ValueError, LookupError) as err:
        fail(str(err))
    except OSError as err:
        fail(f"cannot write the model into {output}: {err.strerror or err}")
    if result.new_weights:
        warn(f"{len(result.new_weights)} weights were not in {result.base_model} and were trained from scratch "
             f"(e.g. {result.new_weights[0]}): it was saved without its masked-LM head")
    typer.echo(f"trained {settings.steps} updates on {result.windows} windows of {result.notes} notes "
               f"({result.long_notes} cut into several) on {result.device}: loss {result.losses[0]:.4f} -> "
               f"{result.losses[-1]:.4f}")
    typer.echo(f"wrote {output} (use it as --encoder.name {output})")
