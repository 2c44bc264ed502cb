"""Assertion (`clinical_context`, issue 15) on gold spans, and what it costs a CNN pipeline.

    python benchmarks/assertion.py                      # trains a small CNN pipeline for the cost figure
    python benchmarks/assertion.py --model training/cnn/model-best --repeats 3

Four measures, written to `benchmarks/results/assertion.md` with the date, machine, commit and data:
- ER_NER polarity: the allergy mentions that carry `Polaridade`, train, val and train + val (247) apart (the rules
  are tuned on train only), built by the project's JSON converter, given to `clinical_context` as gold spans; gold from `context.gold.gold_assertions` (`Negativa` ->
  absent, `Positiva` -> present); a prediction other than "absent" counts as present. Accuracy, P/R/F1 of the
  negated class, the confusions, up to 10 errors as 40-character excerpts.
- The hand-written set (`tests/fixtures/assertion/sentences.jsonl`): per-category P/R/F1 (one against the rest over
  ASSERTIONS), accuracy and the confusion matrix, for all sentences and per variant (pt-BR, pt-PT).
- The second held-out set (`tests/fixtures/assertion/heldout2.jsonl`, written after the first had guided the
  rules, without looking at them): the same tables.
- The third held-out set (`tests/fixtures/assertion/heldout3.jsonl`, written after the first two had guided the
  rules, without looking at them or at either set): the same tables.
- Cost: `nlp.pipe` over the NestedClinBr test notes with and without `clinical_context` after the NER, best of
  `--repeats` alternating runs; ms per note and the ratio. The pipeline is `--model`, or `configs/cnn.cfg` trained
  here for `--steps` steps on NestedClinBr train (same architecture as the shipped one, so the same cost per note).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Iterable, Optional

import spacy
import typer
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support
from spacy.language import Language
from spacy.tokens import Doc

from spacy_clinical_pt.context import ASSERTIONS
from spacy_clinical_pt.context.gold import gold_assertions
from spacy_clinical_pt.convert import convert_path, read_records
from spacy_clinical_pt.corpus import ConversionReport, build_docs, doc_id, excerpt
from spacy_clinical_pt.results import git_commit, sha256_of
from spacy_clinical_pt.tokenizer import clinical_nlp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import date_line, machine_line, write_results  # noqa: E402  (beside this script)

RESULTS = Path("benchmarks/results/assertion.md")
REPO = Path(__file__).resolve().parents[1]
CORPORA = REPO.parent / "shared" / "corpora"
HAND_WRITTEN = REPO / "tests" / "fixtures" / "assertion" / "sentences.jsonl"
HELD_OUT_2 = REPO / "tests" / "fixtures" / "assertion" / "heldout2.jsonl"
HELD_OUT_3 = REPO / "tests" / "fixtures" / "assertion" / "heldout3.jsonl"
CNN_CONFIG = REPO / "configs" / "cnn.cfg"
# Each timed pass runs over the test notes this many times: one pass over 26 notes is too short to time steadily.
PASS_ROUNDS = 4
POLARITY = ("absent", "present")
ER_NER_SPLITS = {"train": ("train.json",), "val": ("val.json",), "train + val": ("train.json", "val.json")}
MAX_ERRORS = 10


def context_nlp() -> Language:
    """The clinical tokenizer with `clinical_context` alone: assertion on the spans already in a doc."""
    nlp = clinical_nlp()
    nlp.add_pipe("clinical_context")
    return nlp


def window(doc: Doc, start_char: int, end_char: int) -> str:
    """A 40-character excerpt of `doc` around the characters `start_char:end_char` (the span first)."""
    before = max(0, start_char - 12)
    return excerpt(doc.text, before, before + 40)


def er_ner_polarity(nlp: Language, folder: Path, names: tuple[str, ...]) -> tuple[list[str], list[str], list[str]]:
    """Gold and predicted polarity of every ER_NER span with a gold assertion in the files `names`.

    nlp: `context_nlp()`. folder: the ER_NER corpus. names: its files to read ("train.json", "val.json").
    RETURNS: (gold, predicted ("absent" or "present"), the errors as table rows).
    """
    report = ConversionReport(lenient=True)  # the one label-less annotation of train.json is reported, not fatal
    records = [record for name in names for record in read_records(folder / name, "jsonspans", report)]
    gold, predicted, errors = [], [], []
    for doc in build_docs(nlp, records, report):
        wanted = gold_assertions(doc)
        if not wanted:
            continue
        doc = nlp(doc)
        for span in doc.spans["sc"]:
            expected = wanted.get((span.start, span.end, span.label_))
            if expected is None:
                continue
            found = "absent" if span._.assertion == "absent" else "present"
            gold.append(expected)
            predicted.append(found)
            if found != expected and len(errors) < MAX_ERRORS:
                cue = span._.assertion_cue
                errors.append(
                    f"| {doc_id(doc)} | {expected} | {span._.assertion} | "
                    f"{excerpt(cue.text) if cue is not None else '-'} | "
                    f"`{window(doc, span.start_char, span.end_char)}` |"
                )
    return gold, predicted, errors


def polarity_row(split: str, gold: list[str], predicted: list[str]) -> str:
    """A markdown row of the polarity scores of one ER_NER split: spans, accuracy and the negated class."""
    precision, recall, f1, _ = precision_recall_fscore_support(
        gold, predicted, labels=["absent"], average=None, zero_division=0
    )
    counts = Counter(gold)
    return (
        f"| {split} | {len(gold)} | {counts['absent']} | {counts['present']} | {accuracy_score(gold, predicted):.3f} "
        f"| {precision[0]:.3f} | {recall[0]:.3f} | {f1[0]:.3f} |"
    )


def hand_written(nlp: Language, path: Path) -> tuple[list[dict], list[str]]:
    """Gold and predicted assertion of every span of the hand-written set.

    RETURNS: one {"variant", "gold", "predicted"} per span; the errors as table rows (all of them: the set is ours).
    """
    rows, errors = [], []
    with path.open(encoding="utf8") as lines:
        sentences = [json.loads(line) for line in lines]
    for sentence in sentences:
        doc = nlp.make_doc(sentence["text"])
        doc.spans["sc"] = [doc.char_span(s["start"], s["end"], label=s["label"]) for s in sentence["spans"]]
        doc = nlp(doc)
        for span, gold in zip(doc.spans["sc"], sentence["spans"]):
            rows.append({"variant": sentence["variant"], "gold": gold["assertion"], "predicted": span._.assertion})
            if span._.assertion != gold["assertion"]:
                cue = span._.assertion_cue
                errors.append(
                    f"| {sentence['id']} | {sentence['covers']} | `{excerpt(span.text)}` | {gold['assertion']} | "
                    f"{span._.assertion} | {excerpt(cue.text) if cue is not None else '-'} |"
                )
    return rows, errors


def confusion_table(gold: list[str], predicted: list[str], rows: Iterable[str]) -> list[str]:
    """A markdown confusion matrix: a row per gold class in `rows`, a column per assertion predicted."""
    rows = list(rows)
    matrix = confusion_matrix(gold, predicted, labels=list(ASSERTIONS))
    lines = ["| gold \\ predicted | " + " | ".join(ASSERTIONS) + " |", "|---" * (len(ASSERTIONS) + 1) + "|"]
    for index, assertion in enumerate(ASSERTIONS):
        if assertion in rows:
            lines.append(f"| {assertion} | " + " | ".join(str(n) for n in matrix[index]) + " |")
    return lines


def category_table(gold: list[str], predicted: list[str]) -> list[str]:
    """Per-category precision, recall, F1 and support (one against the rest), and the macro average."""
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=list(ASSERTIONS), zero_division=0
    )
    lines = ["| assertion | precision | recall | F1 | spans |", "|---|---|---|---|---|"]
    for index, assertion in enumerate(ASSERTIONS):
        lines.append(
            f"| {assertion} | {precision[index]:.3f} | {recall[index]:.3f} | {f1[index]:.3f} | {support[index]} |"
        )
    lines.append(f"| macro | {precision.mean():.3f} | {recall.mean():.3f} | {f1.mean():.3f} | {support.sum()} |")
    return lines


def set_lines(rows: list[dict], errors: list[str]) -> list[str]:
    """The tables of one hand-written set: per category and confusions for all spans and per variant, the errors.

    rows, errors: what `hand_written` returns for the set.
    """
    lines = []
    for variant in ("all", "pt-BR", "pt-PT"):
        chosen = [row for row in rows if variant in ("all", row["variant"])]
        set_gold = [row["gold"] for row in chosen]
        set_predicted = [row["predicted"] for row in chosen]
        lines += [
            "",
            f"### {variant}: {len(chosen)} spans, accuracy {accuracy_score(set_gold, set_predicted):.3f}",
            "",
            *category_table(set_gold, set_predicted),
            "",
            *confusion_table(set_gold, set_predicted, ASSERTIONS),
        ]
    return lines + [
        "",
        f"Errors ({len(errors)}):",
        "",
        "| id | covers | span | gold | predicted | cue |",
        "|---|---|---|---|---|---|",
        *errors,
    ]


def trained_cnn(folder: Path, steps: int, config: Path) -> Path:
    """`config` trained `steps` steps on NestedClinBr train (test as dev) in `folder`; RETURNS model-last."""
    from spacy.cli.train import train

    corpus = CORPORA / "nestedclinbr"
    for split in ("train", "test"):
        if not (folder / f"{split}.spacy").exists():
            convert_path(corpus / split, folder / f"{split}.spacy", format="brat")
    overrides = {
        "paths.train": str(folder / "train.spacy"),
        "paths.dev": str(folder / "test.spacy"),
        "training.max_steps": steps,
        "training.eval_frequency": steps,
        "training.patience": 0,
    }
    train(config, folder / "model", overrides=overrides)
    return folder / "model" / "model-last"


def pipe_seconds(nlp: Language, texts: list[str]) -> float:
    """Wall seconds of one `nlp.pipe` pass over `texts`."""
    started = time.perf_counter()
    for _ in nlp.pipe(texts):
        pass
    return time.perf_counter() - started


def cost(model: Path, repeats: int) -> dict[str, float]:
    """Seconds per note of `model` with and without `clinical_context`, best of `repeats` alternating passes over
    the NestedClinBr test notes, and the spans per note the model predicts (what the component has to qualify)."""
    notes = [path.read_text(encoding="utf8") for path in sorted((CORPORA / "nestedclinbr" / "test").glob("*.txt"))]
    texts = notes * PASS_ROUNDS
    plain = spacy.load(model)
    with_context = spacy.load(model)
    with_context.add_pipe("clinical_context")
    spans = sum(len(doc.spans.get("sc", [])) for doc in plain.pipe(texts))  # also the warm-up of `plain`
    pipe_seconds(with_context, texts)
    times: dict[str, list[float]] = {"plain": [], "context": []}
    for _ in range(repeats):
        times["plain"].append(pipe_seconds(plain, texts))
        times["context"].append(pipe_seconds(with_context, texts))
    best_plain, best_context = min(times["plain"]), min(times["context"])
    return {
        "notes": len(notes),
        "spans_per_note": spans / len(texts),
        "plain_ms": 1000 * best_plain / len(texts),
        "context_ms": 1000 * best_context / len(texts),
        "added": (best_context - best_plain) / best_plain,
    }


def cost_lines(timed: dict[str, dict[str, float]], repeats: int) -> list[str]:
    """The results file's section on cost, from `cost`'s figures per pipeline."""
    notes = next(iter(timed.values()))["notes"]
    return [
        "## Cost: time added to a CNN pipeline per note",
        "",
        f"- `nlp.pipe` over the {notes} NestedClinBr test notes ({PASS_ROUNDS} times per pass), best of {repeats} "
        "alternating passes",
        "",
        "| pipeline | predicted spans per note | ms per note | with clinical_context | time added |",
        "|---|---|---|---|---|",
        *(f"| {name} | {row['spans_per_note']:.1f} | {row['plain_ms']:.2f} | {row['context_ms']:.2f} "
          f"| {100 * row['added']:.1f} % |" for name, row in timed.items()),
    ]


def _errors_heading(errors: int) -> str:
    """"Errors (9):", or "Errors (the first 10 of 31):" when the table shows only the first `MAX_ERRORS`."""
    return f"Errors (the first {MAX_ERRORS} of {errors}):" if errors > MAX_ERRORS else f"Errors ({errors}):"


def main(
    model: Annotated[Optional[list[Path]], typer.Option(help="Pipelines to time besides the CNN tagger trained here "
                                                         "(e.g. the main job's training/nestedclinbr/cnn_BIOE/model-best); repeatable.")] = None,
    steps: Annotated[int, typer.Option(help="Training steps of the CNN tagger trained here (configs/cnn.cfg).")] = 300,
    repeats: Annotated[int, typer.Option(help="Timed passes of each pipeline (alternating); the best counts.")] = 3,
) -> None:
    """Score `clinical_context` on ER_NER polarity and on the three hand-written sets, time it, write the results
    file."""
    nlp = context_nlp()
    er_ner = CORPORA / "er_ner"
    polarity = {split: er_ner_polarity(nlp, er_ner, names) for split, names in ER_NER_SPLITS.items()}
    gold, predicted, er_errors = polarity["train + val"]
    rows, set_errors = hand_written(nlp, HAND_WRITTEN)
    second_rows, second_errors = hand_written(nlp, HELD_OUT_2)
    third_rows, third_errors = hand_written(nlp, HELD_OUT_3)
    with tempfile.TemporaryDirectory() as folder:
        models = {f"configs/cnn.cfg, {steps} steps on NestedClinBr train": trained_cnn(Path(folder), steps, CNN_CONFIG),
                  **{str(path): path for path in model or []}}
        timed = {name: cost(path, repeats) for name, path in models.items()}
    lines = [
        "# Assertion (`clinical_context`) on gold spans, and its cost",
        "",
        date_line(),
        machine_line(),
        f"- commit: {git_commit(REPO) or 'unknown'}",
        f"- data: ER_NER train.json sha256 {sha256_of(er_ner / 'train.json')[:12]}, val.json "
        f"{sha256_of(er_ner / 'val.json')[:12]}; hand-written set sha256 {sha256_of(HAND_WRITTEN)[:12]}; "
        f"second held-out set sha256 {sha256_of(HELD_OUT_2)[:12]}; third held-out set sha256 "
        f"{sha256_of(HELD_OUT_3)[:12]}; NestedClinBr test notes for the cost",
        f"- method: `python benchmarks/assertion.py --steps {steps} --repeats {repeats}"
        + "".join(f" --model {path}" for path in model or []) + "`",
        "",
        "## ER_NER polarity on gold spans (train + val, allergy mentions with `Polaridade`)",
        "",
        "Gold `Negativa` -> absent, `Positiva` -> present; a predicted assertion other than absent counts as present.",
        "",
        "The rules were tuned on train only: val is a held-out check; the issue's figure is train + val.",
        "",
        "| split | spans | absent | present | accuracy | negated precision | negated recall | negated F1 |",
        "|---|---|---|---|---|---|---|---|",
        *(polarity_row(split, *polarity[split][:2]) for split in ER_NER_SPLITS),
        "",
        "Train + val:",
        "",
        *confusion_table(gold, predicted, POLARITY),
        "",
        _errors_heading(sum(g != p for g, p in zip(gold, predicted))),
        "",
        "| note | gold | predicted | cue | excerpt |",
        "|---|---|---|---|---|",
        *er_errors,
        "",
        "## The hand-written set (`tests/fixtures/assertion/`)",
        *set_lines(rows, set_errors),
        "",
        "## The second held-out set (`tests/fixtures/assertion/heldout2.jsonl`)",
        "",
        "Written after the first set had guided the rules, without looking at them (since used to guide them too).",
        *set_lines(second_rows, second_errors),
        "",
        "## The third held-out set (`tests/fixtures/assertion/heldout3.jsonl`)",
        "",
        "Written after the first two sets had guided the rules, without looking at them or at either set: the "
        "held-out figure now.",
        *set_lines(third_rows, third_errors),
        "",
        *cost_lines(timed, repeats),
    ]
    write_results(RESULTS, lines)


if __name__ == "__main__":
    typer.run(main)
