"""How many gold entities align exactly with token boundaries: spaCy's Portuguese tokenizer vs the clinical one.

    python benchmarks/alignment.py                      # corpora in ../shared/corpora
    python benchmarks/alignment.py /data/corpora --examples 20

For NestedClinBr (train/ and test/ BRAT folders) and ER_NER (train.json and val.json) it prints the number
of gold entities, how many align exactly with `spacy.blank("pt")` and with `clinical_nlp()`, the
percentages, and the first misaligned entities left with the clinical tokenizer, as short excerpts with
the tokens that cover them. The fragments of a discontinuous entity are counted separately.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import spacy
import typer
from tqdm import tqdm

from spacy_clinical_pt.convert import read_records
from spacy_clinical_pt.corpus import ConversionReport, Record
from spacy_clinical_pt.tokenizer import alignment_rate, clinical_nlp

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPORA = REPO.parent / "shared" / "corpora"

# Corpus name -> (reader format, inputs relative to the corpora folder).
CORPORA: dict[str, tuple[str, tuple[str, ...]]] = {
    "NestedClinBr": ("brat", ("nestedclinbr/train", "nestedclinbr/test")),
    "ER_NER": ("jsonspans", ("er_ner/train.json", "er_ner/val.json")),
}
TARGET_PERCENT = 99.5  # the share of entities that must align exactly with the clinical tokenizer


def load_corpus(corpora: Path, name: str) -> list[Record]:
    """All the records of one corpus (every input of `CORPORA[name]`), read leniently."""
    format, inputs = CORPORA[name]
    report = ConversionReport(lenient=True)
    records: list[Record] = []
    for relative in inputs:
        path = corpora / relative
        if not path.exists():
            raise typer.BadParameter(f"{path} does not exist", param_hint="CORPORA")
        notes = read_records(path, format, report)
        records.extend(tqdm(notes, desc=f"reading {relative}", unit=" notes", leave=False))
    return records


def main(
    corpora: Annotated[
        Path, typer.Argument(help="Folder holding nestedclinbr/ and er_ner/ (default: ../shared/corpora beside the repo).")
    ] = DEFAULT_CORPORA,
    examples: Annotated[
        int, typer.Option("--examples", "-n", min=0, help="How many misaligned entities to show per corpus.")
    ] = 10,
    lang: Annotated[str, typer.Option(help="spaCy language code of the tokenizers compared.")] = "pt",
) -> None:
    """Count the gold entities that align exactly with the Portuguese and the clinical tokenizer."""
    tokenizers = {f'spacy.blank("{lang}")': spacy.blank(lang), f'clinical_nlp("{lang}")': clinical_nlp(lang)}
    results = {}
    for name in CORPORA:
        records = load_corpus(corpora, name)
        for label, nlp in tokenizers.items():
            progress = tqdm(records, desc=f"{name}: {label}", unit=" notes", leave=False)
            results[name, label] = alignment_rate(nlp, progress)

    print("Gold entities whose offsets align exactly with token boundaries")
    print("(entities with several fragments count once per fragment; offsets trimmed of whitespace)")
    header = f"{'corpus':<14}{'entities':>9}" + "".join(f"{label:>28}" for label in tokenizers)
    print(header)
    for name in CORPORA:
        row = f"{name:<14}{results[name, next(iter(tokenizers))].total:>9}"
        for label in tokenizers:
            rate = results[name, label]
            row += f"{f'{rate.aligned} ({rate.percent:.2f} %)':>28}"
        print(row)
    clinical = list(tokenizers)[1]
    for name in CORPORA:
        rate = results[name, clinical]
        verdict = "meets" if rate.percent >= TARGET_PERCENT else "BELOW"
        print(f"\n{name}: {len(rate.misses)} misaligned with {clinical} ({verdict} the {TARGET_PERCENT} % target)")
        for miss in rate.misses[:examples]:
            print(f"  {miss.doc_id} {miss.label} {miss.start}-{miss.end}: {miss.shown}  tokens: {miss.tokens}")


if __name__ == "__main__":
    typer.run(main)
