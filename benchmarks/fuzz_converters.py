"""Fuzzing every converter: generated and mutated inputs, crashes and silently lost annotations per format.

    python benchmarks/fuzz_converters.py                            # 10,000 inputs over the six formats
    python benchmarks/fuzz_converters.py --inputs 300 --formats brat,conll --seed 3

Each input is made by `tests/helpers/converter_fuzz.py` (the harness the CI property tests use): a valid generated
input, or a generated input, a fixture or a real corpus file (../shared/corpora, when present) changed by one
to three mutations. It is converted with `convert_path` in strict and in lenient mode and checked: a crash
(an exception other than `ConversionError`), a hang, a strict error that names no file and location, a
lenient run stopped by one file's problem, annotations neither in the output nor named by the report (the
harness counts the input's annotations itself), a valid input rejected, reported or with its text changed.

It prints, per format, the inputs and findings, the distinct signatures (exception type, reader function,
message with quoted text and numbers elided; for losses, how the input was made), and for each mutation how
many of the inputs it was part of lost annotations. The same goes to `benchmarks/results/fuzz_converters.md`
with the machine, the data and the commit. No clinical text is printed: inputs are described by their file
names, sizes and mutations, labels and exception messages have their quoted parts elided.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from helpers import converter_fuzz as fuzz  # noqa: E402  (the harness the tests share: tests/helpers)
from provenance import date_line, machine_line  # noqa: E402  (beside this script)

RESULTS = Path("benchmarks/results/fuzz_converters.md")


@dataclass
class FormatStats:
    """What the inputs of one format gave."""

    inputs: int = 0
    sources: Counter = field(default_factory=Counter)  # valid / generated / fixture / corpus
    annotations: int = 0  # counted by the harness in the inputs
    inputs_with: Counter = field(default_factory=Counter)  # (kind, mode) -> inputs
    lost: Counter = field(default_factory=Counter)  # mode -> annotations lost
    signatures: Counter = field(default_factory=Counter)  # signature -> inputs
    examples: dict[str, str] = field(default_factory=dict)  # signature -> first example
    steps: Counter = field(default_factory=Counter)  # mutation step -> inputs
    steps_lost: Counter = field(default_factory=Counter)  # mutation step -> inputs with a loss
    seconds: float = 0.0


def source_of(case: fuzz.Case) -> str:
    if case.valid:
        return "valid"
    return case.made[0].split()[0]


def step_names(case: fuzz.Case) -> set[str]:
    """The mutations of an input, numbers elided ("label=5" and "label=7" are one step)."""
    return {re.sub(r"\d+", "N", step) for step in case.made[1:]}


def code_under_test() -> str:
    """Where the converters came from: this checkout's `src/`, or another copy put first on PYTHONPATH (to measure
    an earlier commit with today's harness: `git archive <commit> src | tar -x -C /tmp/old`)."""
    import spacy_clinical_pt

    package = Path(spacy_clinical_pt.__file__).resolve().parent
    if package == REPO / "src" / "spacy_clinical_pt":
        return "this checkout's src/ (the commit above)"
    return f"{package} (not this checkout: the harness is the commit above, the converters are that copy's)"


def git_state() -> str:
    """Short commit, and whether the tree has changes (naming the changed converter files)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, timeout=10
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    if not status:
        return f"{head} (clean tree)"
    converter_code = ("src/spacy_clinical_pt/convert/", "src/spacy_clinical_pt/corpus.py")
    converters = ", ".join(sorted(line[3:] for line in status if line[3:].startswith(converter_code))) or "none"
    return f"{head}, dirty tree ({len(status)} changed paths; converter code changed: {converters})"


def run(formats: list[str], inputs: int, seed: int) -> dict[str, FormatStats]:
    """Make and check `inputs` inputs spread evenly over `formats`; input i of a format is seeded by (seed, format, i).

    Returns the findings per format.
    """
    from spacy_clinical_pt.tokenizer import clinical_nlp

    import spacy_clinical_pt.convert as convert

    convert.tqdm = lambda iterable, **_: iterable  # one progress bar: this one
    nlp = clinical_nlp()
    stats = {format: FormatStats() for format in formats}
    plan = [(format, i) for i in range(-(-inputs // len(formats))) for format in formats][:inputs]
    bar = tqdm(plan, desc="fuzz", unit=" inputs", smoothing=0.05)
    for format, index in bar:
        started = time.perf_counter()
        case = fuzz.make_case(format, random.Random(f"{seed}:{format}:{index}"))
        with tempfile.TemporaryDirectory() as work:
            findings = fuzz.check_case(case, nlp, Path(work))
        record(stats[format], case, findings)
        stats[format].seconds += time.perf_counter() - started
        crashes = sum(s.inputs_with[("crash", m)] for s in stats.values() for m in ("strict", "lenient"))
        losses = sum(s.inputs_with[("loss", m)] for s in stats.values() for m in ("strict", "lenient"))
        bar.set_postfix(crashes=crashes, losses=losses, refresh=False)
    return stats


def record(stats: FormatStats, case: fuzz.Case, findings: list[fuzz.Finding]) -> None:
    stats.inputs += 1
    stats.sources[source_of(case)] += 1
    stats.annotations += len(fuzz.count_annotations(case))
    steps = step_names(case)
    stats.steps.update(steps)
    for kind, mode in {(f.kind, f.mode) for f in findings}:
        stats.inputs_with[(kind, mode)] += 1
    for finding in findings:
        if finding.kind == "loss":
            stats.lost[finding.mode] += finding.count
    if any(f.kind == "loss" for f in findings):
        stats.steps_lost.update(steps)
    for signature in {f.signature for f in findings}:
        stats.signatures[signature] += 1
        if signature not in stats.examples:
            stats.examples[signature] = next(f.detail for f in findings if f.signature == signature)


def both(stats: FormatStats, kind: str) -> str:
    return f"{stats.inputs_with[(kind, 'strict')]} / {stats.inputs_with[(kind, 'lenient')]}"


def losses(stats: FormatStats, mode: str) -> str:
    return f"{stats.inputs_with[('loss', mode)]} ({stats.lost[mode]})"


def summary_table(stats: dict[str, FormatStats]) -> list[str]:
    lines = [
        "| format | inputs (valid / generated / fixture / corpus) | annotations | crashes strict / lenient | hangs "
        "| strict errors without location | lenient stops | inputs with losses strict (annotations) "
        "| lenient (annotations) | valid rejected / reported / text changed | export round trips failed brat / "
        "jsonspans | s per input |",
        "|" + "---|" * 12,
    ]
    for format, s in stats.items():
        sources = " / ".join(str(s.sources[k]) for k in ("valid", "generated", "fixture", "corpus"))
        changed = max(s.inputs_with[("text_changed", "strict")], s.inputs_with[("text_changed", "lenient")])
        rejected, reported = s.inputs_with[("rejected_valid", "strict")], s.inputs_with[("valid_reported", "lenient")]
        valid = f"{rejected} / {reported} / {changed}"
        lines.append(
            f"| {format} | {s.inputs} ({sources}) | {s.annotations} | {both(s, 'crash')} | {both(s, 'hang')} "
            f"| {s.inputs_with[('unlocated', 'strict')]} | {s.inputs_with[('lenient_stop', 'lenient')]} "
            f"| {losses(s, 'strict')} | {losses(s, 'lenient')} | {valid} "
            f"| {s.inputs_with[('round_trip', 'brat')]} / {s.inputs_with[('round_trip', 'jsonspans')]} "
            f"| {s.seconds / max(s.inputs, 1):.3f} |"
        )
    return lines


def signature_lines(format: str, s: FormatStats, limit: int) -> list[str]:
    """The distinct findings of one format, most frequent first, with one example input each."""
    if not s.signatures:
        return [f"### {format}", "", "No finding.", ""]
    lines = [f"### {format} ({len(s.signatures)} distinct signatures, reader: `{fuzz.READER_FILES[format]}`)", ""]
    lines += ["| inputs | signature | example input |", "|---|---|---|"]
    ranked = sorted(s.signatures.items(), key=lambda item: (-item[1], item[0]))
    for signature, count in ranked[:limit]:
        example = s.examples[signature].replace("|", "\\|")
        lines.append(f"| {count} | {signature.replace('|', chr(92) + '|')} | {example} |")
    if len(ranked) > limit:
        lines.append(f"| {sum(c for _, c in ranked[limit:])} | ({len(ranked) - limit} more signatures) | |")
    lossy = [(step, s.steps_lost[step], s.steps[step]) for step in s.steps_lost]
    if lossy:
        lines += ["", "Mutations in inputs with losses (inputs with a loss / inputs with the mutation):", ""]
        lossy.sort(key=lambda item: (-item[1] / item[2], -item[1], item[0]))
        lines += [f"- {step}: {lost} / {total}" for step, lost, total in lossy[:limit]]
    return lines + [""]


def main(
    inputs: Annotated[
        int, typer.Option("--inputs", "-n", min=1, help="How many inputs in all, spread over the formats.")
    ] = 10_000,
    seed: Annotated[int, typer.Option(help="Seed of the inputs (input i of a format: seed, format, i).")] = 0,
    formats: Annotated[str, typer.Option(help="Comma-separated formats to fuzz.")] = ",".join(fuzz.FUZZED_FORMATS),
    results: Annotated[Path, typer.Option(help="Markdown results file.")] = RESULTS,
    signatures: Annotated[int, typer.Option(min=1, help="Signatures listed per format.")] = 15,
) -> None:
    """Fuzz the converters with generated and mutated inputs; print and write crashes and losses per format."""
    chosen = [f.strip() for f in formats.split(",") if f.strip()]
    unknown = sorted(set(chosen) - set(fuzz.FUZZED_FORMATS))
    if unknown or not chosen:
        raise typer.BadParameter(
            f"unknown format(s) {unknown}: choose from {', '.join(fuzz.FUZZED_FORMATS)}", param_hint="--formats"
        )
    started = time.perf_counter()
    stats = run(chosen, inputs, seed)
    seconds = time.perf_counter() - started
    table = summary_table(stats)
    details = [line for format, s in stats.items() for line in signature_lines(format, s, signatures)]
    typer.echo("\n" + "\n".join(table) + "\n\n" + "\n".join(details))
    corpora = ", ".join(
        f"{fuzz.CORPUS_FORMATS[f]} ({'present' if fuzz.corpus_available(f) else 'absent: fixtures used instead'})"
        for f in chosen
        if f in fuzz.CORPUS_FORMATS
    )
    without = [f for f in chosen if f not in fuzz.CORPUS_FORMATS]
    provenance = [
        date_line(),
        f"- commit: {git_state()}",
        f"- code under test: {code_under_test()}",
        machine_line(),
        f"- run: {sum(s.inputs for s in stats.values())} inputs, seed {seed}, formats {', '.join(chosen)}, "
        f"{seconds:.0f} s in all (two conversions per input, one process)",
        "- data: generated inputs, the fixtures under tests/fixtures, real corpora from ../shared/corpora: "
        + (corpora or "none for these formats")
        + (f"; no real corpus for {', '.join(without)}: fixtures instead" if without else ""),
        "- columns: crashes = inputs where `convert_path` raised something other than `ConversionError` (or a hang: no "
        f"result in {fuzz.CONVERT_SECONDS} s); strict errors without location = a `ConversionError` naming no file, "
        "or no line, record, tag or offset; lenient stops = lenient mode raised for a per-file or per-record problem "
        "(anything but \"no documents were read\" or a missing path), nothing written; losses = inputs with "
        "annotations "
        "(counted by the harness itself) neither in the output's `doc.spans` with their label nor named by a report "
        "entry (dropped, errors or repaired, naming their file and line, record or tag), with the number of such "
        "annotations; strict mode is checked for losses only when it does not raise. Valid = generated valid inputs: "
        "rejected in strict mode / reported in lenient mode / text changed; export round trips: their strict output "
        "written by `export_brat` or `export_jsonspans` and converted again does not give the same texts, offsets and "
        "labels (or raises).",
    ]
    results = results if results.is_absolute() else REPO / results
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(
        "# Converter fuzzing: crashes and silently lost annotations per format\n\n"
        + "\n".join(table) + "\n\n" + "\n".join(provenance) + "\n\n## Signatures\n\n" + "\n".join(details) + "\n"
        "Written by `python benchmarks/fuzz_converters.py`.\n",
        encoding="utf8",
    )
    typer.echo(f"written: {results}")


if __name__ == "__main__":
    typer.run(main)
