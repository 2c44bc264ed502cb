"""Converters: one reader per input format, one shared builder (`corpus.build_docs`), one entry point.

    from spacy_clinical_pt.convert import convert_path
    report = convert_path("corpora/nestedclinbr/train", "corpus/train.spacy", format="brat")

Every reader has the signature `read_X(path, report, **format_options) -> Iterator[Record]`; `FORMATS`
maps the format names of the `convert` command to them.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable, Iterator

from spacy.language import Language
from spacy.tokens import DocBin

from ..corpus import (
    AlignmentMode,
    ConversionError,
    ConversionReport,
    DiscontinuousMode,
    Progress,
    Record,
    build_docs,
)
from .argilla import read_argilla
from .brat import read_brat
from .conll import read_conll
from .docbin import load_docs, read_docbin
from .doccano import read_doccano
from .jsonspans import read_jsonspans
from .semclinbr import read_semclinbr

Reader = Callable[..., Iterator[Record]]


# Format name (the `convert --format` choices) -> reader.
FORMATS: dict[str, Reader] = {
    "brat": read_brat,
    "semclinbr": read_semclinbr,
    "jsonspans": read_jsonspans,
    "doccano": read_doccano,
    "argilla": read_argilla,
    "conll": read_conll,
    "spacy": read_docbin,
}


def read_records(path: str | Path, format: str, report: ConversionReport, **options: Any) -> Iterator[Record]:
    """The records of `path` read as `format`.

    options: the reader's own keyword options (e.g. `encoding`, `source_key`); an option the reader
        does not take is a ValueError naming the options it does take.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    reader = FORMATS[format]
    accepted = [
        name
        for name, parameter in inspect.signature(reader).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"option {', '.join(unknown)} does not apply to format {format!r} "
            f"(it takes: {', '.join(accepted) or 'no options'})"
        )
    return reader(Path(path), report, **options)


def convert_path(
    input_path: str | Path,
    output_path: str | Path,
    *,
    format: str,
    spans_key: str = "sc",
    discontinuous: DiscontinuousMode = "covering",
    alignment: AlignmentMode = "expand",
    lenient: bool = False,
    report_path: str | Path | None = None,
    nlp: Language | None = None,
    progress: Progress | None = None,
    **format_options: Any,
) -> ConversionReport:
    """Convert `input_path` (read as `format`) into a DocBin at `output_path`, entities in `doc.spans[spans_key]`.

    discontinuous: "covering" (one span from first start to last end) or "fragments" (one span per fragment).
    alignment: offsets off token boundaries are "expand"ed or "contract"ed to tokens (and reported).
    lenient: go on after bad input, listing it in the report; strict (default) raises `ConversionError`
        naming the file and line or record, and writes no output.
    report_path: also write the report as JSON here (in strict mode too, with the error that stopped it).
    nlp: supplies the tokenizer; default `spacy_clinical_pt.tokenizer.clinical_nlp()`.
    progress: shows the conversion (default: nothing).
    format_options: the reader's options (`encoding`, `source_key`, `scheme`, `keep_types`...). For the
        `spacy` format, the source span key defaults to `spans_key` when a document has it.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    report = ConversionReport(lenient=lenient)
    if nlp is None:
        from ..tokenizer import clinical_nlp

        nlp = clinical_nlp()
    if format == "spacy":
        format_options.setdefault("default_key", spans_key)
    doc_bin = DocBin(store_user_data=True)
    try:
        if not input_path.exists():
            raise ConversionError(f"{input_path}: no such file or folder")
        records = read_records(input_path, format, report, **format_options)
        docs = build_docs(
            nlp, records, report, spans_key=spans_key, discontinuous=discontinuous, alignment=alignment
        )
        for doc in progress(docs, f"convert {input_path.name}", None) if progress is not None else docs:
            doc_bin.add(doc)
        if report.docs == 0:
            # Even in lenient mode: an empty corpus would only fail later, far from its cause.
            problems = f" ({len(report.errors)} errors, {len(report.dropped)} dropped)" if lenient else ""
            raise ConversionError(f"{input_path}: no documents were read{problems}")
    except ConversionError as err:
        if report_path is not None:
            report.errors.append({"where": str(input_path), "problem": str(err)})
            report.write_json(report_path)
        raise
    output_path.parent.mkdir(parents=True, exist_ok=True)
    doc_bin.to_disk(output_path)
    if report_path is not None:
        report.write_json(report_path)
    return report


__all__ = ["FORMATS", "convert_path", "load_docs", "read_records"]
