"""Reader for CoNLL-style token-per-line files (IOB1, IOB2/BIO, IOBES/BILOU tags).

    -DOCSTART- -X- -X- O
    Paciente      O
    com           O
    dor           B-Disorders
    torácica      I-Disorders
    .             O

    Nega          O
    ...

The token is the first column and the tag the last; columns between them (POS tags, chunks) are ignored.
Columns are split on tabs when the line has one (a token may then hold spaces), else on spaces: other
whitespace (a no-break space, "\\x1c", U+2028...) stays inside its token. Lines end at "\\r\\n", "\\r" or
"\\n" only. A blank line ends a sentence; `-DOCSTART-` lines, when present, separate documents, else a file
is one document.
The plain text is rebuilt with single spaces between tokens and "\\n" between sentences, and entities get
character offsets into it.

The tag scheme is detected per file unless given (`detect_scheme`). Invalid sequences (`I-X` after `O` in
IOB2, `E-X` without `B-X`, a chunk not closed by `E-`/`S-` in IOBES...) are repaired the conventional way,
by starting a new entity there, and every repair is listed in the report with file:line. A line with no tag
column or a tag with an unknown prefix is an error (strict) or, in lenient mode, read as an `O` token and
listed as dropped. Files that are not UTF-8 (cp1252, latin-1) are decoded by `encoding.read_text`, which
notes it in the report.

Excel workbooks (`.xlsx`, one row per token) are read through `xlsx.read_workbook` as the same rows, so
schemes, repairs and checks are the same; their messages name the sheet and row instead of the line.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple, Sequence

from ..corpus import ConversionReport, Entity, Record
from .encoding import input_files, read_text, split_lines

CONLL_SUFFIXES = (
    ".conll", ".conll03", ".conllx", ".txt", ".tsv", ".col", ".ner",
    ".iob", ".iob1", ".iob2", ".bio", ".iobes", ".bioes", ".bilou",
)  # fmt: skip
DOCSTART = "-DOCSTART-"
# Scheme names accepted by `scheme=` and what they decode as. IO files (I- only) decode as IOB1.
SCHEMES = {
    "IOB1": "IOB1",
    "IO": "IOB1",
    "IOB2": "IOB2",
    "BIO": "IOB2",
    "IOBES": "IOBES",
    "BIOES": "IOBES",
    "BILOU": "IOBES",
}
# BILOU's Last and Unit are IOBES's End and Single.
PREFIXES = {"B": "B", "I": "I", "E": "E", "S": "S", "L": "E", "U": "S"}
PREFIX_TAG = re.compile(r"^([BIESLU])-(.*)$")
SUFFIX_TAG = re.compile(r"^(.+)-([BIESLU])$")
SPACES = re.compile(r" +")  # not str.split(), which also splits at "\xa0", "\x1c", "\u2028"...

Tag = tuple[str | None, str | None]  # (prefix B/I/E/S, label), or (None, None) for O


class Token(NamedTuple):
    """One token line: its text, its tag split into (prefix, label), and where it is ("a.conll:3")."""

    text: str
    prefix: str | None
    label: str | None
    where: str


class Chunk(NamedTuple):
    """An entity over tokens [start, end) of one sentence."""

    start: int
    end: int
    label: str


def split_tag(tag: str) -> Tag:
    """(prefix, label) of a tag: "B-Disorders" -> ("B", "Disorders"), "O" -> (None, None).

    BILOU prefixes become IOBES ones (L -> E, U -> S); the suffix form "Disorders-B" is accepted too.
    Raises ValueError for an empty label or an unknown prefix.
    """
    if tag == "O":
        return None, None
    match = PREFIX_TAG.match(tag)
    if match is not None:
        prefix, label = match.groups()
    else:
        match = SUFFIX_TAG.match(tag)
        if match is None:
            raise ValueError(f"tag {tag!r} has no B-/I-/E-/S-/L-/U- prefix and is not O")
        label, prefix = match.groups()
    if not label.strip():
        raise ValueError(f"tag {tag!r} has an empty label")
    return PREFIXES[prefix], label.strip()


def normalize_scheme(scheme: str) -> str:
    """"IOB1", "IOB2" or "IOBES" for a scheme name (IO, BIO, BIOES, BILOU are aliases, any case)."""
    try:
        return SCHEMES[scheme.upper()]
    except KeyError:
        raise ValueError(f"unknown tag scheme {scheme!r}; use one of {', '.join(SCHEMES)}") from None


def detect_scheme(sentences: Iterable[Sequence[Tag]]) -> str:
    """The tag scheme of tagged sentences: "IOBES", "IOB1" or "IOB2".

    IOBES when any E-/S- (L-/U-) tag is used. IOB1 when some I- tag begins a chunk (at sentence start,
    after O or after another type) and every B- tag follows a chunk of its own type, which is the only
    place IOB1 uses B-. Else IOB2.
    """
    i_begins_chunk = False
    b_begins_after_other = False
    for sentence in sentences:
        previous: str | None = None
        for prefix, label in sentence:
            if prefix in ("E", "S"):
                return "IOBES"
            if prefix == "I" and previous != label:
                i_begins_chunk = True
            if prefix == "B" and previous != label:
                b_begins_after_other = True
            previous = label
    return "IOB1" if i_begins_chunk and not b_begins_after_other else "IOB2"


def decode_tags(tags: Sequence[Tag], scheme: str) -> tuple[list[Chunk], list[tuple[int, str]]]:
    """Chunks from the tags of one sentence, and the repairs made to invalid sequences.

    tags: (prefix, label) per token, prefixes B/I/E/S or None for O.
    scheme: "IOB1", "IOB2" or "IOBES" (see `normalize_scheme`).
    Returns (chunks over token indices, [(token index, what was repaired)]). Repairs follow the usual
    convention: an I- that cannot continue a chunk starts one (IOB2, IOBES), an E- without its B- is a
    one-token entity, an IOBES chunk not closed by E- ends at its last token.
    """
    scheme = normalize_scheme(scheme)
    chunks: list[Chunk] = []
    repairs: list[tuple[int, str]] = []
    current: tuple[str, int] | None = None  # (label, first token) of the open chunk

    def close(end: int, reason: str | None = None) -> None:
        nonlocal current
        if current is None:
            return
        if scheme == "IOBES" and reason is not None:
            repairs.append((end - 1, f"{current[0]} entity not closed by E-/S- ({reason}); ended here"))
        chunks.append(Chunk(current[1], end, current[0]))
        current = None

    for index, (prefix, label) in enumerate(tags):
        previous = "sentence start" if index == 0 else _tag_name(tags[index - 1])
        if prefix in ("E", "S") and scheme != "IOBES":
            repairs.append((index, f"{prefix}-{label} in a {scheme} file read as in IOBES"))
        if prefix is None:
            close(index, "followed by O")
        elif prefix == "B":
            close(index, f"followed by B-{label}")
            current = (label, index)
        elif prefix == "I":
            if current is not None and current[0] == label:
                continue
            close(index, f"followed by I-{label}")
            if scheme != "IOB1":
                repairs.append((index, f"I-{label} after {previous} starts a new entity ({scheme})"))
            current = (label, index)
        elif prefix == "E":
            if current is not None and current[0] == label:
                close(index + 1)
                continue
            close(index, f"followed by E-{label}")
            repairs.append((index, f"E-{label} after {previous} without B-{label}: a one-token entity"))
            chunks.append(Chunk(index, index + 1, label))
        else:  # S
            close(index, f"followed by S-{label}")
            chunks.append(Chunk(index, index + 1, label))
    close(len(tags), "at sentence end")
    return chunks, repairs


def _tag_name(tag: Tag) -> str:
    return "O" if tag[0] is None else f"{tag[0]}-{tag[1]}"


def read_conll(
    path: Path, report: ConversionReport, *, scheme: str | None = None, encoding: str | None = None
) -> Iterator[Record]:
    """Records from CoNLL token-per-line files and token-per-row workbooks, one per file, `-DOCSTART-`
    section or sheet.

    path: one file (`.xlsx` read as a workbook, any other suffix as text), or a folder searched
        recursively for CoNLL suffixes (`CONLL_SUFFIXES`) and `.xlsx`.
    report: strict mode raises `ConversionError` naming file:line (or sheet and row); lenient mode lists
        repairs and drops.
    scheme: the tag scheme (IOB1, IO, IOB2, BIO, IOBES, BIOES, BILOU); None detects it per file.
    encoding: the text files' encoding; None detects UTF-8, else cp1252/latin-1 (noted in the report).
    doc_id is the file stem, or "<stem>-<n>" (n from 1) when the file holds several documents.
    """
    # xlsx reads tags with `split_tag`: imported here, not at the top, where the import would be circular.
    from .xlsx import WORKBOOK_SUFFIXES, read_workbook

    given = normalize_scheme(scheme) if scheme is not None else None
    detected: Counter = Counter()
    for file in input_files(path, CONLL_SUFFIXES + WORKBOOK_SUFFIXES, report):
        if file.suffix.lower() in WORKBOOK_SUFFIXES:
            if file.name.startswith("~$"):
                report.note(f"{file}: Excel lock file skipped")
                continue
            sheets = read_workbook(file, report)
        else:
            text = read_text(file, report, encoding)
            sheets = [_text_rows(file, text)] if text else []
        if not sheets:
            continue
        documents = [document for rows in sheets for document in _parse(rows, report)]
        if not documents:
            report.error(str(file), "no token lines")
            continue
        file_scheme = given
        if file_scheme is None:
            file_scheme = detect_scheme(
                [(t.prefix, t.label) for t in sentence] for document in documents for sentence in document
            )
            detected[file_scheme] += 1
        for number, document in enumerate(documents, start=1):
            doc_id = file.stem if len(documents) == 1 else f"{file.stem}-{number}"
            yield _record(file, doc_id, document, file_scheme, report)
    for name, count in sorted(detected.items()):
        report.note(f"{path}: tag scheme detected as {name} in {count} file(s)")


def _text_rows(file: Path, text: str) -> list[tuple[str, list[str]]]:
    """(where, columns) per line of a CoNLL text; a blank line has no columns."""
    rows = []
    for number, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            columns = []
        elif "\t" in line:
            columns = [c.strip(" ") for c in line.split("\t")]
        else:
            columns = SPACES.split(line.strip(" "))
        rows.append((f"{file}:{number}", columns))
    return rows


def _parse(rows: Iterable[tuple[str, list[str]]], report: ConversionReport) -> list[list[list[Token]]]:
    """Documents -> sentences -> tokens from (where, columns) rows; no columns end a sentence.

    Empty documents and sentences are left out.
    """
    documents: list[list[list[Token]]] = [[]]
    sentence: list[Token] = []

    def end_sentence() -> None:
        nonlocal sentence
        if sentence:
            documents[-1].append(sentence)
            sentence = []

    for where, columns in rows:
        if not columns:
            end_sentence()
            continue
        if columns[0] == DOCSTART:
            end_sentence()
            if documents[-1]:
                documents.append([])
            continue
        problem = None
        if len(columns) < 2:
            problem = "no tag column"
        elif not columns[0] or not columns[-1]:
            problem = "empty token" if not columns[0] else "empty tag"
        if problem is not None:
            if columns[0]:
                report.drop(where, f"malformed line: {problem}; read as an O token")
                sentence.append(Token(columns[0], None, None, where))
            else:
                report.drop(where, f"malformed line: {problem}; line skipped")
            continue
        try:
            prefix, label = split_tag(columns[-1])
        except ValueError as err:
            report.drop(where, f"malformed line: {err}; read as an O token")
            prefix, label = None, None
        sentence.append(Token(columns[0], prefix, label, where))
    end_sentence()
    return [document for document in documents if document]


def _record(
    file: Path, doc_id: str, document: list[list[Token]], scheme: str, report: ConversionReport
) -> Record:
    """Rebuild the text of one document and turn its chunks into character-offset entities."""
    pieces: list[str] = []
    entities: list[Entity] = []
    position = 0
    for sentence_number, sentence in enumerate(document):
        if sentence_number:
            pieces.append("\n")
            position += 1
        starts = []
        for token_number, token in enumerate(sentence):
            if token_number:
                pieces.append(" ")
                position += 1
            starts.append(position)
            pieces.append(token.text)
            position += len(token.text)
        chunks, repairs = decode_tags([(t.prefix, t.label) for t in sentence], scheme)
        for index, message in repairs:
            report.repair(sentence[index].where, message)
        for chunk in chunks:
            last = sentence[chunk.end - 1]
            entities.append(
                Entity(
                    start=starts[chunk.start],
                    end=starts[chunk.end - 1] + len(last.text),
                    label=chunk.label,
                    origin=sentence[chunk.start].where,
                )
            )
    return Record(doc_id=doc_id, text="".join(pieces), entities=entities, origin=str(file))
