"""The texts of notes, unlabelled, as JSONL lines `{"text": ...}`: what `spacy pretrain` reads
(`[corpora.pretrain]`, `spacy.JsonlCorpus.v1`) to pretrain the CNN tok2vec on a domain's notes.

    from spacy_clinical_pt.notes import collect_notes
    summary = collect_notes(["assets/nestedclinbr", "assets/er_ner/train.json"], "corpus/notes.jsonl")

An input is read by what it is, with the converters of `spacy_clinical_pt.convert`:
- a `.spacy` file: the text of each doc (`convert.docbin.load_docs`);
- a `.json` or `.jsonl` file: the "text" of each record (`convert.jsonspans.iter_json_objects`);
- a CoNLL file (`.conll`, `.tsv`... `convert.conll.CONLL_SUFFIXES` but `.txt`) or a workbook (`.xlsx`): the text
  of each document as the CoNLL reader rebuilds it from its tokens;
- any other file, `.txt` above all: one note, decoded as the converters decode (`convert.encoding.decode_bytes`:
  UTF-8, else cp1252/latin-1; a file mixing both decoded line by line);
- a folder (a user's notes, a BRAT folder): every file under it, recursively and hidden ones left out, read as
  above by its suffix; files of other kinds (BRAT's `.ann` and `.conf`) are counted as ignored.

Only texts are kept, one line per note: a problem of an annotation (offsets off a token) does not matter here and
is not looked at; a file or record whose text cannot be read raises `ConversionError` naming the file and the
line or record. Exact duplicates of a text already collected, and empty texts, are not written: counted.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

from .corpus import ConversionError, ConversionReport

DOCBIN_SUFFIX = ".spacy"
JSON_SUFFIXES = (".json", ".jsonl")
NOTE_SUFFIX = ".txt"


@dataclass
class NotesSummary:
    """What `collect_notes` read and wrote.

    read: input (as given) -> notes read from it, duplicates and empty ones included.
    duplicates, empty: notes not written, being exact duplicates of an earlier text, or empty (blank).
    written, characters: the notes written and their characters.
    ignored: files under the input folders that are no notes, per suffix.
    """

    read: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    empty: int = 0
    written: int = 0
    characters: int = 0
    ignored: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {"read": self.read, "duplicates": self.duplicates, "empty": self.empty, "written": self.written,
                "characters": self.characters, "ignored": dict(sorted(self.ignored.items()))}

    def summary(self) -> str:
        """A few lines for the terminal: counts and paths, never note text."""
        lines = [f"read {n} notes from {source}" for source, n in self.read.items()]
        lines.append(f"dropped {self.duplicates} duplicates and {self.empty} empty notes")
        if self.ignored:
            counts = ", ".join(f"{suffix} {n}" for suffix, n in sorted(self.ignored.items()))
            lines.append(f"ignored {sum(self.ignored.values())} files that are no notes ({counts})")
        lines.append(f"kept {self.written} notes, {self.characters} characters")
        return "\n".join(lines)


def collect_notes(inputs: Iterable[str | Path], output: str | Path, encoding: Optional[str] = None) -> NotesSummary:
    """Write the texts of the notes of `inputs` to `output`, one JSONL line `{"text": ...}` per note.

    inputs: files and folders, read as the module docstring says.
    output: the JSONL file to write (replaced if it exists); written only when every input was read.
    encoding: the text files' codec instead of UTF-8-else-cp1252 detection (not for `.spacy` files).
    Raises ConversionError for an input that cannot be read (naming file and line or record) or when no note is
    left to write.
    """
    from .convert.encoding import text_codec

    if encoding is not None:
        encoding = text_codec(encoding)  # an unknown codec fails before anything is read
    output = Path(output)
    summary = NotesSummary()
    seen: set[bytes] = set()
    output.parent.mkdir(parents=True, exist_ok=True)
    # Hidden (so a folder being read skips it) and renamed at the end: an input that fails leaves no output.
    partial = output.with_name(f".{output.name}.partial")
    try:
        with partial.open("w", encoding="utf8") as out:
            for source in inputs:
                summary.read[str(source)] = 0
                for text in input_texts(Path(source), summary.ignored, encoding):
                    summary.read[str(source)] += 1
                    digest = hashlib.blake2b(text.encode("utf8", "surrogatepass"), digest_size=16).digest()
                    if not text.strip():
                        summary.empty += 1
                    elif digest in seen:
                        summary.duplicates += 1
                    else:
                        seen.add(digest)
                        out.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
                        summary.written += 1
                        summary.characters += len(text)
        if not summary.written:
            read = sum(summary.read.values())
            raise ConversionError(f"no notes to write: {read} read, {summary.duplicates} duplicates, "
                                  f"{summary.empty} empty")
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    return summary


def input_texts(path: Path, ignored: Counter, encoding: Optional[str] = None) -> Iterator[str]:
    """The texts of the notes of one input, a file or a folder; files of a folder that are no notes are counted
    in `ignored` per suffix. Raises ConversionError as `collect_notes`."""
    if not path.exists():
        raise ConversionError(f"{path}: no such file or folder")
    if path.is_file():
        yield from _file_texts(path, encoding)
        return
    found = 0
    files = sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path)))
    for file in files:
        if _is_note_file(file):
            found += 1
            yield from _file_texts(file, encoding)
        else:
            ignored[file.suffix.lower() or "(no suffix)"] += 1
    if not found:
        raise ConversionError(f"{path}: no notes in this folder (no .txt, .json, .jsonl, .spacy or CoNLL files)")


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _is_note_file(path: Path) -> bool:
    from .convert.conll import CONLL_SUFFIXES
    from .convert.xlsx import WORKBOOK_SUFFIXES

    known = (NOTE_SUFFIX, DOCBIN_SUFFIX, *JSON_SUFFIXES, *CONLL_SUFFIXES, *WORKBOOK_SUFFIXES)
    return path.suffix.lower() in known and not path.name.startswith("~$")  # "~$": an Excel lock file


def _file_texts(path: Path, encoding: Optional[str]) -> Iterator[str]:
    """The texts of one file, by its suffix (the module docstring)."""
    from .convert.conll import CONLL_SUFFIXES, read_conll
    from .convert.docbin import load_docs
    from .convert.encoding import decode_bytes
    from .convert.jsonspans import iter_json_objects, record_text
    from .convert.xlsx import WORKBOOK_SUFFIXES

    suffix = path.suffix.lower()
    # Lenient: problems of annotations are no concern of the texts; errors (text that cannot be read) raise below.
    report = ConversionReport(lenient=True)
    if suffix == DOCBIN_SUFFIX:
        yield from (doc.text for doc in load_docs(path))
    elif suffix in JSON_SUFFIXES:
        for where, record in iter_json_objects(path, report, encoding):
            if isinstance(record, dict) and isinstance(record.get("text"), str) and not record["text"].strip():
                yield record["text"]  # empty: counted by the caller (record_text would call it an error)
                continue
            text = record_text(where, record, "text", report)
            _raise_first_error(report)
            yield text
    elif suffix in WORKBOOK_SUFFIXES or (suffix in CONLL_SUFFIXES and suffix != NOTE_SUFFIX):
        texts = [record.text for record in read_conll(path, report, encoding=encoding)]
        _raise_first_error(report)
        yield from texts
    else:
        try:
            data = path.read_bytes()
        except OSError as err:
            raise ConversionError(f"{path}: cannot be read ({err.strerror or type(err).__name__})") from None
        yield decode_bytes(data, str(path), report, encoding)
    _raise_first_error(report)


def _raise_first_error(report: ConversionReport) -> None:
    """Raise the first error of a lenient report, which names the file and line or record."""
    if report.errors:
        first = report.errors[0]
        more = f" (and {len(report.errors) - 1} more errors)" if len(report.errors) > 1 else ""
        raise ConversionError(f"{first['where']}: {first['problem']}{more}")
