"""Fuzzing the converters: generated and mutated inputs, an independent count of their annotations, one check.

    from helpers.converter_fuzz import check_case, make_case
    case = make_case("brat", random.Random(7))          # an input: files, target path, how it was made
    findings = check_case(case, nlp, work_dir)           # [] when every property holds

Shared by `tests/convert/test_convert_properties.py` (hypothesis seeds the `random.Random`, `st.randoms`) and
`benchmarks/fuzz_converters.py` (`random.Random` seeded by seed, format and input number).

Properties checked for every input, through `convert_path` in strict and in lenient mode:
- strict mode raises nothing but `ConversionError`, and its message names the file and a line, record, tag or
  offset (or is about a whole file: empty, missing, not readable);
- lenient mode raises nothing for a per-file or per-record problem: the only `ConversionError` allowed is
  "no documents were read" or a missing input path;
- nothing is lost: each annotation of the input is in the output DocBin or named by a report entry;
- a generated valid input is read whole in strict mode, with no report entry and its text unchanged, and what
  it gives survives `export_brat` / `export_jsonspans` and a second conversion (same texts, offsets, labels).

How annotations are accounted for (`count_annotations`, `find_losses`): the harness parses the final bytes
of the input itself (its own minimal parsing: BRAT `T` lines, JSON annotation items, XML tags with offsets,
CoNLL chunks), never through the readers. Each annotation gets
- a key, what the output must hold: (document, entity id or offsets, label folded to ASCII letters and
  digits, so that an encoding guess does not count as a loss but `5` read as `IS_PUNCT` does);
- a location, how a report entry must name it: file + line (BRAT, CoNLL, JSONL), file + record (+ index of
  the annotation in it) for JSON lists, file + tag id for SemClinBr; only the file when the harness itself
  cannot split the file (a JSON list or an XML file that does not parse).
The output side is read from `doc.spans["sc"]`: one entity per span id, its label the span's label, its
offsets those stored in `doc.user_data["clinical_pt"]["entities"]`. For each key, with k input annotations,
m output entities and c of the k named by a report entry: lost = k - c - m when positive. A report entry
names an annotation when it names its file and its location; an entry in `errors` (a record or file that
was not read) also covers every annotation of that record, or of the file when it names the file only, a
line of a file whose annotations sit in records (a JSON list that does not parse names a line) or a decoding
problem (the line of the first bad byte). Notes (`report.notes`) name nothing: a loss whose file a note mentions is still a loss,
marked "(a note names the file)". After a lenient stop, or a strict error, nothing is accounted for: the
stop or the error is the finding.
"""

from __future__ import annotations

import codecs
import json
import re
import signal
import traceback
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator, NamedTuple
from xml.sax.saxutils import quoteattr

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
SHARED_CORPORA = REPO.parent / "shared" / "corpora"
FUZZED_FORMATS = ("brat", "jsonspans", "doccano", "argilla", "conll", "semclinbr")
READER_FILES = {
    "brat": "convert/brat.py",
    "jsonspans": "convert/jsonspans.py",
    "doccano": "convert/doccano.py",
    "argilla": "convert/argilla.py",
    "conll": "convert/conll.py",
    "semclinbr": "convert/semclinbr.py",
}
# Real corpora beside the checkout, per format (absent on a user's fresh clone).
CORPUS_FORMATS = {"brat": "nestedclinbr", "jsonspans": "er_ner", "conll": "clinpt"}
CONVERT_SECONDS = 30  # one conversion of one small input; longer is a hang
# Line ends of every line-based format: "\r\n", "\r" or "\n", never the other characters `str.splitlines` takes.
LINE_BREAK = re.compile(r"\r\n|\r|\n")

# ---------------------------------------------------------------------------------------------------------
# Clinical-like text

WORDS = (
    "Paciente", "hipertenso", "diabético", "dor", "torácica", "dispneia", "edema", "MMII", "AAS", "100", "mg",
    "VO", "ECG", "sem", "alterações", "Nega", "febre", "tosse", "secreção", "ausculta", "murmúrio", "vesicular",
    "PA", "150x90", "mmHg", "HAS", "DM2", "glicemia", "insulina", "losartana", "50mg", "12/03/2021", "Dr.",
    "cefaleia", "náuseas", "vômitos", "abdômen", "flácido", "indolor", "à", "palpação", "hemoglobina", "13,2",
    "g/dL", "coração", "ritmo", "regular", "2T", "BNF", "s/", "sopros", "CA", "mama", "quimioterapia", "mês",
    "açúcar", "São", "Paulo", "pós-operatório", "(", ")", "-", ";", "HD:", "IAM", "Conduta:", "ç", "Ü",
)  # fmt: skip
# Odd but valid: emoji, a combining accent, a ligature, a zero-width space, degree signs, and cp1252 mojibake
# ("mÃªs" is "mês" encoded as UTF-8 and read as cp1252: common in exported clinical files).
ODD_WORDS = ("🙂", "💊", "e\u0301", "ﬁbrose", "zero\u200bwidth", "3º", "½", "mÃªs", "MedicaÃ§Ã£o", "Ã³bito")
MOJIBAKE_MARK = "Ã"
# Whitespace that is not a line end for BRAT, JSON or CoNLL, although `str.splitlines` splits at most of them.
ODD_SEPARATORS = ("\t", "\x0c", "\x85", "\u2028", "\u2029", "\u00a0", "  ", "\x0b")
XML_FORBIDDEN = ("\x0c", "\x0b")  # not allowed anywhere in XML 1.0

BRAT_LABELS = ("Problema", "Anatomia", "Teste", "Tratamento", "Medicação_Habitual", "Diagnóstico", "Sinal/Sintoma")
JSON_LABELS = (
    "Diagnóstico", "Medicação Habitual", "Alergias medicamentosas", "Problema", "Anatomia", "Teste", "Tratamento",
)  # fmt: skip
CONLL_LABELS = ("Disorders", "Chemicals", "Procedures", "Anatomy", "Medicação", "Sinal-Sintoma")
# Values of a SemClinBr `tag` attribute: TUIs, abbreviations, names, several types, a group.
SEMCLINBR_TAGS = (
    "T047", "T184", "dsyn", "Sign or Symptom", "T023", "bpoc", "T121", "phsu", "T060", "Diagnostic Procedure",
    "T201", "T034", "T055|T033", "T047|T023", "T184|T029", "DISO", "Anatomy",
)  # fmt: skip


def clinical_text(
    rnd, words: tuple[int, int] = (4, 30), odd: bool = False, newline: str = "\n", forbidden: tuple[str, ...] = ()
) -> tuple[str, list[tuple[int, int]]]:
    """A note of clinical-like words, and the (start, end) offsets of each word.

    rnd: a `random.Random` (or hypothesis' random).
    words: bounds of the number of words.
    odd: also use odd words and separators (emoji, \\x85, U+2028, tabs...).
    newline: the line end, "\\n" or "\\r\\n".
    forbidden: characters the format cannot hold (XML control characters).
    """
    separators = [s for s in ODD_SEPARATORS if s not in forbidden]
    pieces: list[str] = []
    spans: list[tuple[int, int]] = []
    position = 0
    for index in range(rnd.randint(*words)):
        if index:
            roll = rnd.random()
            if roll < 0.1:
                separator = newline
            elif roll < 0.15:
                separator = ". " + newline
            elif roll < 0.2:
                separator = ", "
            elif odd and roll < 0.35:
                separator = rnd.choice(separators)
            else:
                separator = " "
            pieces.append(separator)
            position += len(separator)
        word = rnd.choice(ODD_WORDS) if odd and rnd.random() < 0.15 else rnd.choice(WORDS)
        spans.append((position, position + len(word)))
        pieces.append(word)
        position += len(word)
    if rnd.random() < 0.5:
        pieces.append(newline)
    return "".join(pieces), spans


def pick_span(rnd, spans: list[tuple[int, int]], max_words: int = 3) -> tuple[int, int]:
    """Offsets over 1 to `max_words` words, sometimes starting or ending inside a word (off token boundaries)."""
    first = rnd.randrange(len(spans))
    last = min(len(spans) - 1, first + rnd.randint(0, max_words - 1))
    start, end = spans[first][0], spans[last][1]
    if rnd.random() < 0.1 and spans[first][1] - start > 2:
        start += 1
    if rnd.random() < 0.1 and end - spans[last][0] > 2:
        end -= 1
    return start, end


def pick_fragments(rnd, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Two non-overlapping word ranges of a discontinuous entity, in text order."""
    first = rnd.randrange(len(spans) - 2)
    second = rnd.randrange(first + 2, len(spans))
    return [spans[first], spans[second]]


def pick_codec(rnd, text: str, codecs_: tuple[str, ...] = ("utf-8", "utf-8-sig", "cp1252", "utf-16")) -> str:
    """A codec for a generated file: mostly UTF-8, else one that can hold `text`."""
    if rnd.random() < 0.6:
        return "utf-8"
    codec = rnd.choice(codecs_)
    if codec in ("cp1252", "windows-1252") and MOJIBAKE_MARK in text:
        # mojibake words in a cp1252 file look like UTF-8: whether that file is "mixed" is a judgment call,
        # made realistic (a few lemmas, CLINpt-like) by the CoNLL generator only
        return "utf-8"
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        return "utf-8"
    return codec


# ---------------------------------------------------------------------------------------------------------
# Cases


@dataclass
class Case:
    """One input to convert: its files, the path given to `convert_path`, and how it was made."""

    format: str
    files: dict[str, bytes]  # path relative to the input root -> content
    target: str = ""  # the path converted, relative to the input root ("" is the root folder)
    made: list[str] = field(default_factory=list)  # the base ("generated", "fixture", "corpus") and each mutation
    valid: bool = False  # a generated valid input: strict mode must read it whole
    texts: dict[str, str] = field(default_factory=dict)  # valid inputs: doc id -> the text the output must hold
    written: int = 0  # valid inputs: how many annotations the generator wrote (checks the counter)
    codecs: dict[str, str] = field(default_factory=dict)  # path -> codec it was written in (mutations keep it)

    def describe(self) -> str:
        """How the input was made and its files, without their content."""
        files = ", ".join(f"{name} ({len(data)} B)" for name, data in sorted(self.files.items()))
        return f"{self.format} {' + '.join(self.made)}; target {self.target or '<folder>'}; files: {files}"


def generate_brat(rnd, odd: bool | None = None) -> Case:
    """A valid BRAT folder (or one pair): nested, overlapping and discontinuous entities, ignored line kinds."""
    odd = rnd.random() < 0.5 if odd is None else odd
    case = Case("brat", {}, made=["generated" + (" odd" if odd else "")], valid=True)
    folder = rnd.choice(("", "notas/", "notas/sub/"))
    for number in range(1, rnd.randint(1, 3) + 1):
        stem = f"{folder}nota{number}"
        newline = rnd.choice(("\n", "\r\n"))
        text, spans = clinical_text(rnd, odd=odd, newline=newline)
        lines, ids = [], []
        next_id = 1
        for _ in range(rnd.randint(0, 6)):
            label = rnd.choice(BRAT_LABELS)
            if len(spans) >= 4 and rnd.random() < 0.2:
                fragments = pick_fragments(rnd, spans)
                if rnd.random() < 0.3:
                    fragments.reverse()  # BRAT keeps the order the annotator clicked
            else:
                fragments = [pick_span(rnd, spans)]
            quoted = " ".join(text[s:e] for s, e in fragments).replace("\r\n", " ").replace("\n", " ")
            offsets = ";".join(f"{s} {e}" for s, e in fragments)
            lines.append(f"T{next_id}\t{label} {offsets}\t{quoted}")
            ids.append(f"T{next_id}")
            next_id += rnd.choice((1, 1, 1, 3))
        if ids and rnd.random() < 0.5:
            lines.insert(rnd.randint(0, len(lines)), f"#1\tAnnotatorNotes {ids[0]}\tnota do anotador")
            lines.append(f"A1\tNegado {rnd.choice(ids)}")
            lines.append(f"R1\tLocalizacao Arg1:{rnd.choice(ids)} Arg2:{rnd.choice(ids)}")
            lines.append(f"N1\tReference {ids[0]} UMLS:C0013798\tElectrocardiogram")
        ann_newline = rnd.choice(("\n", "\r\n"))
        ann = ann_newline.join(lines) + (ann_newline if lines and rnd.random() < 0.8 else "")
        codec = pick_codec(rnd, text + ann)
        case.files[f"{stem}.txt"] = text.encode(codec)
        case.files[f"{stem}.ann"] = ann.encode(codec)
        case.codecs[f"{stem}.txt"] = case.codecs[f"{stem}.ann"] = codec
        case.texts[PurePosixPath(stem).as_posix()] = text
        case.written += len(ids)
    if len(case.texts) == 1 and rnd.random() < 0.3:
        case.target = rnd.choice(sorted(case.files))
        case.texts = {PurePosixPath(case.target).stem: text}
    elif folder and rnd.random() < 0.5:
        case.target = "notas"
        case.texts = {k[len("notas/"):]: v for k, v in case.texts.items()}
    return case


def _json_entity_spans(rnd, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [pick_span(rnd, spans) for _ in range(rnd.randint(0, 6))]


def generate_jsonspans(rnd, odd: bool | None = None) -> Case:
    """A valid ER_NER-style JSON list, single object or JSONL, with attributes and discontinuous entities."""
    odd = rnd.random() < 0.5 if odd is None else odd
    records, texts, written = [], {}, 0
    for number in range(1, rnd.randint(1, 4) + 1):
        text, spans = clinical_text(rnd, odd=odd, newline=rnd.choice(("\n", "\r\n")))
        annotations = []
        for start, end in _json_entity_spans(rnd, spans):
            annotation: dict[str, Any] = {rnd.choice(("begin", "start")): start, "end": end}
            annotation["label"] = rnd.choice(JSON_LABELS)
            if rnd.random() < 0.3:
                annotation["Polaridade"] = rnd.choice(("Positiva", "Negativa"))
            if rnd.random() < 0.2:
                annotation["text"] = text[start:end]
            if rnd.random() < 0.1:
                annotation[rnd.choice(("score", "flag", "certeza"))] = rnd.choice((0.9, True, None, 3, "alta"))
            annotations.append(annotation)
        if len(spans) >= 4 and rnd.random() < 0.3:
            fragments = pick_fragments(rnd, spans)
            annotations.append(
                {"begin": fragments[0][0], "end": fragments[1][1], "label": rnd.choice(JSON_LABELS),
                 "fragments": [list(f) for f in fragments]}
            )  # fmt: skip
        doc_id = rnd.choice((number, f"d{number}"))
        records.append({"doc_id": doc_id, "text": text, "annotations": annotations})
        texts[str(doc_id)] = text
        written += len(annotations)
    return _json_case("jsonspans", rnd, records, texts, written, odd)


def generate_doccano(rnd, odd: bool | None = None) -> Case:
    """A valid Doccano export: old `label` triples (or `labels`) or new `entities` objects with relations."""
    odd = rnd.random() < 0.5 if odd is None else odd
    records, texts, written = [], {}, 0
    entity_id = rnd.randint(1, 50)
    for number in range(1, rnd.randint(1, 4) + 1):
        text, spans = clinical_text(rnd, odd=odd, newline=rnd.choice(("\n", "\r\n")))
        offsets = _json_entity_spans(rnd, spans)
        record: dict[str, Any] = {"id": number + 6, "text": text}
        if rnd.random() < 0.5:
            record[rnd.choice(("label", "label", "labels"))] = [[s, e, rnd.choice(JSON_LABELS)] for s, e in offsets]
            record["Comments"] = []
        else:
            entities = []
            for start, end in offsets:
                entities.append(
                    {"id": entity_id, "label": rnd.choice(JSON_LABELS), "start_offset": start, "end_offset": end}
                )
                entity_id += 1
            record["entities"] = entities
            record["relations"] = (
                [{"id": 1, "from_id": entities[0]["id"], "to_id": entities[-1]["id"], "type": "local"}]
                if len(entities) > 1
                else []
            )
        records.append(record)
        texts[str(record["id"])] = text
        written += len(offsets)
    return _json_case("doccano", rnd, records, texts, written, odd, layouts=("list", "jsonl", "jsonl"))


def generate_argilla(rnd, odd: bool | None = None) -> Case:
    """A valid Argilla export: 1.x records, 2.x records, 2.x flattened records (first submitted response is gold)."""
    odd = rnd.random() < 0.5 if odd is None else odd
    records, texts, written = [], {}, 0
    for number in range(1, rnd.randint(1, 4) + 1):
        text, spans = clinical_text(rnd, odd=odd, newline=rnd.choice(("\n", "\r\n")))
        gold = [(rnd.choice(JSON_LABELS), s, e) for s, e in _json_entity_spans(rnd, spans)]
        layout = rnd.choice(("v1", "v2", "flat"))
        record_id = f"r{number}"
        if layout == "v1":
            items = [list(g) if rnd.random() < 0.7 else {"label": g[0], "start": g[1], "end": g[2]} for g in gold]
            record: dict[str, Any] = {"text": text, "tokens": text.split(), "annotation": items}
            record["prediction"] = [[g[0], g[1], g[2], 0.8] for g in gold[:1]] or None
            record.update(id=record_id, status="Validated")
        else:
            value = [{"start": s, "end": e, "label": label} for label, s, e in gold]
            other = [{"start": s, "end": e, "label": "Teste"} for _, s, e in gold[:1]]
            if layout == "v2":
                responses = [{"value": value, "user_id": "u1", "status": "submitted"}]
                if rnd.random() < 0.5:
                    responses.append({"value": other, "user_id": "u2", "status": rnd.choice(("draft", "discarded"))})
                if rnd.random() < 0.3:
                    responses.insert(0, {"value": other, "user_id": "u0", "status": "draft"})
                record = {"id": record_id, "fields": {"text": text}, "metadata": {}}
                record["responses"] = {"entidades": responses}
                if rnd.random() < 0.5:
                    record["suggestions"] = {"entidades": {"value": other, "score": None, "agent": "modelo"}}
            else:
                record = {"id": record_id, "text": text, "entidades.responses": [value]}
                if rnd.random() < 0.5:
                    record["entidades.responses.status"] = ["submitted"]
                if rnd.random() < 0.3:
                    record["entidades.suggestion"] = other
        records.append(record)
        texts[record_id] = text
        written += len(gold)
    return _json_case("argilla", rnd, records, texts, written, odd, layouts=("list", "jsonl"))


def _json_case(
    format: str, rnd, records: list, texts: dict, written: int, odd: bool, layouts=("list", "object", "jsonl")
) -> Case:
    """A valid case of one JSON file holding `records` in one of `layouts` (a single object needs one record)."""
    layout = rnd.choice(layouts)
    if layout == "object" and len(records) != 1:
        layout = "list"
    name = "data.jsonl" if layout == "jsonl" else "data.json"
    text = dump_json(records, layout, rnd)
    codec = pick_codec(rnd, text)
    case = Case(format, {name: text.encode(codec)}, target=name, valid=True, texts=texts, written=written)
    case.made.append("generated" + (" odd" if odd else "") + f" {layout}")
    case.codecs[name] = codec
    return case


def generate_conll(rnd, odd: bool | None = None) -> Case:
    """Valid CoNLL files (IOB1, IO, IOB2, IOBES, BILOU), several documents, cp1252 with mojibake sometimes."""
    odd = rnd.random() < 0.5 if odd is None else odd
    words = [w for w in WORDS + (ODD_WORDS if odd else ()) if not any(c.isspace() for c in w)]
    words = [w for w in words if MOJIBAKE_MARK not in w]  # mojibake goes in the lemma column, as in CLINpt
    accented = [w for w in WORDS if not w.isascii()]
    case = Case("conll", {}, made=["generated" + (" odd" if odd else "")], valid=True)
    files = rnd.randint(1, 3)
    for number in range(1, files + 1):
        suffix = rnd.choice((".conll", ".bio", ".iob2", ".tsv", ".txt", ".iobes", ".CONLL", ".Bio"))
        stem = f"nota{number}"
        scheme = rnd.choice(("IOB1", "IO", "IOB2", "IOBES", "BILOU"))
        columns = rnd.choice(("space", "tab", "wide", "lemma"))
        genuine = mojibake = 0  # non-ASCII characters of tokens and of mojibake lemmas
        newline = rnd.choice(("\n", "\r\n"))
        documents = rnd.randint(1, 2)
        lines: list[str] = []
        for document in range(1, documents + 1):
            if documents > 1 or rnd.random() < 0.3:
                lines += ["-DOCSTART- -X- -X- O", ""]
            sentences = []
            for _ in range(rnd.randint(1, 3)):
                tokens, tags, chunks = _conll_sentence(rnd, words, scheme)
                case.written += chunks
                sentences.append(tokens)
                for token, tag in zip(tokens, tags):
                    genuine += sum(not c.isascii() for c in token)
                    lemma = token.lower()
                    # CLINpt's lemma column: now and then UTF-8 read as cp1252 ("realÃ§ar"), rare against real accents
                    candidate = rnd.choice(accented).encode("utf-8").decode("cp1252", errors="replace")
                    extra = sum(not c.isascii() for c in candidate)
                    if columns == "lemma" and rnd.random() < 0.3 and (mojibake + extra) * 10 <= genuine:
                        lemma, mojibake = candidate, mojibake + extra
                    lines.append(
                        {
                            "space": f"{token} {tag}",
                            "tab": f"{token}\tNOUN\t{tag}",
                            "wide": f"{token} NOUN B-NP {tag}",
                            "lemma": f"{token}\tn\t{lemma}\t{tag}",
                        }[columns]
                    )
                lines.append("")
            doc_id = stem if documents == 1 else f"{stem}-{document}"
            case.texts[doc_id] = "\n".join(" ".join(tokens) for tokens in sentences)
        text = newline.join(lines)
        codec = "cp1252" if rnd.random() < 0.3 else pick_codec(rnd, text, ("utf-8", "cp1252", "utf-16"))
        try:
            data = text.encode(codec)
        except UnicodeEncodeError:
            codec, data = "utf-8", text.encode("utf-8")
        case.files[stem + suffix] = data
        case.codecs[stem + suffix] = codec
    if files == 1 and rnd.random() < 0.4:
        case.target = next(iter(case.files))
    return case


def _conll_sentence(rnd, words: list[str], scheme: str) -> tuple[list[str], list[str], int]:
    """Tokens and tags of one sentence in `scheme`, and its number of chunks."""
    tokens, tags = [], []
    chunks = 0
    previous_label = None  # label of the chunk that ends right before the next token, if any
    for _ in range(rnd.randint(1, 5)):
        for _ in range(rnd.randint(0, 2)):
            tokens.append(rnd.choice(words))
            tags.append("O")
            previous_label = None
        label = rnd.choice(CONLL_LABELS)
        if scheme == "IO" and label == previous_label:
            tokens.append(rnd.choice(words))
            tags.append("O")  # IO cannot tell two adjacent chunks of one label apart
        length = rnd.randint(1, 3)
        for position in range(length):
            last = position == length - 1
            if scheme == "IOB1":
                prefix = "B" if position == 0 and previous_label == label else "I"
            elif scheme == "IO":
                prefix = "I"
            elif scheme == "IOB2":
                prefix = "B" if position == 0 else "I"
            else:
                single, begin, end = ("S", "B", "E") if scheme == "IOBES" else ("U", "B", "L")
                prefix = single if length == 1 else begin if position == 0 else end if last else "I"
            tokens.append(rnd.choice(words))
            tags.append(f"{prefix}-{label}")
        chunks += 1
        previous_label = label
    return tokens, tags, chunks


def generate_semclinbr(rnd, odd: bool | None = None) -> Case:
    """Valid SemClinBr XML files: several UMLS types per tag, MAE 2 spans, links, non-consuming tags."""
    odd = rnd.random() < 0.5 if odd is None else odd
    case = Case("semclinbr", {}, made=["generated" + (" odd" if odd else "")], valid=True)
    for number in range(1, rnd.randint(1, 3) + 1):
        stem = f"nota_{number:04d}"
        text, spans = clinical_text(rnd, odd=odd, newline=rnd.choice(("\n", "\r\n")), forbidden=XML_FORBIDDEN)
        lines = []
        tag_number = 0
        for _ in range(rnd.randint(0, 6)):
            tag_number += 1
            value = rnd.choice(SEMCLINBR_TAGS)
            case.written += len(set(group for group in map(_semclinbr_group, value.split("|"))))
            if len(spans) >= 4 and rnd.random() < 0.15:
                fragments = pick_fragments(rnd, spans)
                offsets = f'spans="{",".join(f"{s}~{e}" for s, e in fragments)}"'
                quoted = ""
            else:
                start, end = pick_span(rnd, spans)
                offsets = f'spans="{start}~{end}"' if rnd.random() < 0.2 else f'start="{start}" end="{end}"'
                quoted = f" text={quoteattr(text[start:end])}" if rnd.random() < 0.8 else ""
            lines.append(f'<Entity id="E{tag_number}" {offsets}{quoted} tag={quoteattr(value)} comment="" />')
        if tag_number > 1 and rnd.random() < 0.4:
            lines.append('<Relation id="R1" fromID="E1" fromText="" toID="E2" toText="" type="irradia_para" />')
        if rnd.random() < 0.2:
            lines.append('<Entity id="E99" start="-1" end="-1" text="" tag="T047" />')
        codec = rnd.choice(("utf-8", "utf-8", "utf-8", "windows-1252", "utf-16"))
        if MOJIBAKE_MARK in text:
            codec = "utf-8"  # see pick_codec
        try:
            text.encode(codec)
        except UnicodeEncodeError:
            codec = "utf-8"
        declaration = {"utf-8": "UTF-8", "windows-1252": "windows-1252", "utf-16": "UTF-16"}[codec]
        xml = (
            f'<?xml version="1.0" encoding="{declaration}" ?>\n<SemClinBr>\n<TEXT><![CDATA[{text}]]></TEXT>\n'
            "<TAGS>\n" + "".join(line + "\n" for line in lines) + "</TAGS>\n</SemClinBr>\n"
        )
        case.files[f"{stem}.xml"] = xml.encode(codec)
        case.codecs[f"{stem}.xml"] = codec
        case.texts[stem] = text
    if len(case.files) == 1 and rnd.random() < 0.4:
        case.target = next(iter(case.files))
    return case


GENERATORS: dict[str, Callable[..., Case]] = {
    "brat": generate_brat,
    "jsonspans": generate_jsonspans,
    "doccano": generate_doccano,
    "argilla": generate_argilla,
    "conll": generate_conll,
    "semclinbr": generate_semclinbr,
}


def fixture_case(format: str, rnd) -> Case:
    """A case made of the format's fixture files under tests/fixtures."""
    if format == "brat":
        files = {f"notas/{p.name}": p.read_bytes() for p in sorted((FIXTURES / "brat" / "notas").iterdir())}
        return Case(format, files, target=rnd.choice(("", "notas")), made=["fixture notas"])
    if format in ("jsonspans", "doccano", "argilla"):
        names = {"jsonspans": ("er_ner_sample.json",), "doccano": ("doccano.jsonl",)}.get(
            format, ("argilla_v1.json", "argilla_v2.json")
        )
        name = rnd.choice(names)
        return Case(format, {name: (FIXTURES / "json" / name).read_bytes()}, target=name, made=[f"fixture {name}"])
    folder = FIXTURES / format
    paths = sorted(folder.iterdir())
    if rnd.random() < 0.5:
        path = rnd.choice(paths)
        return Case(format, {path.name: path.read_bytes()}, target=path.name, made=[f"fixture {path.name}"])
    return Case(format, {p.name: p.read_bytes() for p in paths}, made=[f"fixture {format}/"])


def corpus_available(format: str) -> bool:
    """Whether the real corpus used for `format` is beside the checkout."""
    return format in CORPUS_FORMATS and (SHARED_CORPORA / CORPUS_FORMATS[format]).exists()


@lru_cache(maxsize=None)
def _corpus_files(format: str) -> tuple[Path, ...]:
    root = SHARED_CORPORA / CORPUS_FORMATS[format]
    if format == "brat":
        return tuple(sorted(root.rglob("*.txt")))
    if format == "conll":
        return tuple(sorted(p for p in root.rglob("*.conll")))
    return tuple(sorted(root.glob("*.json")))


@lru_cache(maxsize=None)
def _er_ner_records(path: Path) -> tuple[str, ...]:
    return tuple(json.dumps(record) for record in json.loads(path.read_text(encoding="utf8")))


def corpus_case(format: str, rnd) -> Case:
    """A case made of real corpus files (BRAT pairs, ER_NER records, one CoNLL file); the corpus must exist."""
    files = _corpus_files(format)
    if format == "brat":
        chosen = rnd.sample(files, min(len(files), rnd.randint(1, 3)))
        case = Case(format, {}, made=["corpus nestedclinbr"])
        for txt in chosen:
            case.files[txt.name] = txt.read_bytes()
            case.files[txt.with_suffix(".ann").name] = txt.with_suffix(".ann").read_bytes()
        return case
    if format == "conll":
        path = rnd.choice(files)
        return Case(format, {"nota.conll": path.read_bytes()}, target="nota.conll", made=["corpus clinpt"])
    path = rnd.choice(files)
    records = _er_ner_records(path)
    first = rnd.randrange(len(records))
    chosen = records[first : first + rnd.randint(1, 3)]
    # ER_NER's own layout: json.dumps defaults (ASCII escapes, no indent).
    data = ("[" + ", ".join(chosen) + "]").encode("utf8")
    return Case(format, {"er_ner.json": data}, target="er_ner.json", made=[f"corpus er_ner/{path.name}"])


# ---------------------------------------------------------------------------------------------------------
# JSON with values json.dumps cannot write (5,000-digit integers, deep nesting, 1e400)

BIG = "@@BIG@@"  # a 5,000-digit integer, beyond Python's int/str conversion limit
INF = "@@INF@@"  # 1e400: a float that overflows to infinity
NAN = "@@NAN@@"
DEEP = "@@DEEP:{}@@"  # a list nested that deep
SENTINEL = re.compile(r'"@@(BIG|INF|NAN|DEEP:(\d+))@@"')


def dump_json(records: list, layout: str, rnd) -> str:
    """`records` as a JSON list, a single object or JSONL, with the sentinels above written out raw."""
    ensure_ascii = rnd.random() < 0.3
    if layout == "jsonl":
        text = "\n".join(json.dumps(r, ensure_ascii=ensure_ascii) for r in records) + "\n"
    else:
        value = records if layout == "list" else records[0]
        text = json.dumps(value, ensure_ascii=ensure_ascii, indent=rnd.choice((None, 1)))

    def raw(match: re.Match) -> str:
        kind = match.group(1)
        if kind == "BIG":
            return "9" * 5000
        if kind == "INF":
            return "1e400"
        if kind == "NAN":
            return "NaN"
        depth = int(match.group(2))
        return "[" * depth + "]" * depth

    return SENTINEL.sub(raw, text)


def load_json(data: bytes, name: str) -> tuple[list, str] | None:
    """(records, layout) of a JSON file as generated or stored, or None when it does not parse."""
    text = decode_guess(data)
    try:
        if name.lower().endswith(".jsonl"):
            return [json.loads(line) for line in LINE_BREAK.split(text) if line.strip()], "jsonl"
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return (value, "list") if isinstance(value, list) else ([value], "object")


# ---------------------------------------------------------------------------------------------------------
# Mutations

BAD_LABELS = (
    5, True, False, None, "", "  ", ["Problema"], {"label": "Problema"}, 1.5, BIG, 2**64, "Prob\nlema", "x" * 300,
    0, [], INF,
)  # fmt: skip
BAD_OFFSETS = (
    "5", 5.0, 5.5, -3, 10**6, 2**64, -(2**64), BIG, None, [1], True, "abc", INF, NAN, 0, "", {"v": 1},
)  # fmt: skip
BAD_CONTAINERS = ({}, "x", 5, None, [[[]]], {"a": [1, 2, "X"]}, True, [None], [[1, 2]], DEEP.format(5000))
BAD_TEXTS = (5, None, "", "   ", ["texto"], {"t": "x"}, True, BIG)
ANNOTATION_KEYS = ("annotations", "label", "labels", "entities", "annotation", "responses")
UNKNOWN_KEYS = ("entities", "spans", "Annotations", "annotation", "ents", "tags", "labels", "label")
DEEP_VALUES = (DEEP.format(100_000), DEEP.format(5000), DEEP.format(900), DEEP.format(600), DEEP.format(50))
HUGE_VALUES = (2**64, -(2**70), 10**30, BIG, INF, NAN, DEEP.format(700), 2**63, -(2**63) - 1)
BAD_BYTES = (b"\xff", b"\x80", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\xfe\xff", b"\xe2\x80", b"\x81\x8d")
ODD_INSERTS = ("\x0c", "\x85", "\u2028", "\u2029", "\x1c", "\x0b", "\x00", "\ufeff", "\r")


def annotation_lists(record: Any, format: str) -> list[list]:
    """The lists of annotation items of one JSON record (what the structure mutations edit)."""
    if not isinstance(record, dict):
        return []
    found = []
    if format == "jsonspans":
        keys: tuple[str, ...] = ("annotations",)
    elif format == "doccano":
        keys = ("label", "labels", "entities")
    else:
        keys = ("annotation", "prediction")
    found += [record[k] for k in keys if isinstance(record.get(k), list)]
    if format == "argilla":
        for value in (record.get("responses") or {}).values() if isinstance(record.get("responses"), dict) else ():
            if isinstance(value, list):
                found += [a["value"] for a in value if isinstance(a, dict) and isinstance(a.get("value"), list)]
        for key, value in record.items():
            if key.endswith(".responses") and isinstance(value, list):
                found += [v for v in value if isinstance(v, list)]
    return found


def _items(records: list, format: str) -> list[tuple[list, int]]:
    return [(lst, i) for r in records for lst in annotation_lists(r, format) for i in range(len(lst))]


def _set_field(item: Any, role: str, value: Any, format: str) -> bool:
    """Set the label or an offset ("label", "start", "end") of one annotation item, whatever its layout."""
    if isinstance(item, dict):
        if role == "label":
            item["label"] = value
            return True
        names = ("begin", "start", "start_offset") if role == "start" else ("end", "end_offset")
        present = [n for n in names if n in item] or [names[-1 if format == "doccano" else 0]]
        item[present[0]] = value
        return True
    if isinstance(item, list) and len(item) >= 3:
        # doccano triples are [start, end, label]; argilla's are [label, start, end]
        order = ("start", "end", "label") if format == "doccano" else ("label", "start", "end")
        item[order.index(role)] = value
        return True
    return False


def _mutate_json_records(records: list, format: str, rnd) -> str:
    """One structure mutation of JSON records, in place; returns its name."""
    items = _items(records, format)
    dict_records = [r for r in records if isinstance(r, dict)]
    op = rnd.choice(
        ("label", "label", "offset", "offset", "container", "record", "unknown_key", "deep", "huge_attr",
         "dup_record", "del_record", "offsets_invalid", "extra_keys", "specific", "specific")
    )  # fmt: skip
    if op in ("label", "offset", "offsets_invalid", "huge_attr", "deep") and not items:
        op = "record"
    if op == "label":
        lst, i = rnd.choice(items)
        value = rnd.choice(BAD_LABELS)
        _set_field(lst[i], "label", value, format)
        return f"label={_describe_value(value)}"
    if op == "offset":
        lst, i = rnd.choice(items)
        value = rnd.choice(BAD_OFFSETS)
        role = rnd.choice(("start", "end"))
        _set_field(lst[i], role, value, format)
        return f"{role}={_describe_value(value)}"
    if op == "offsets_invalid":
        lst, i = rnd.choice(items)
        start, end = rnd.choice(((9, 3), (4, 4), (-1, 3), (0, 100_000), (3, -1)))
        _set_field(lst[i], "start", start, format)
        _set_field(lst[i], "end", end, format)
        return f"offsets={start}-{end}"
    if op == "huge_attr":
        lst, i = rnd.choice(items)
        value = rnd.choice(HUGE_VALUES)
        if isinstance(lst[i], dict):
            lst[i]["Polaridade"] = value
        else:
            lst[i] = value
        return f"attribute={_describe_value(value)}"
    if op == "deep":
        value = rnd.choice(DEEP_VALUES)
        where = rnd.choice(("attribute", "item", "record"))
        if where == "attribute" and items and isinstance(items[0][0][items[0][1]], dict):
            items[0][0][items[0][1]]["extra"] = value
        elif where == "item" and items:
            lst, i = rnd.choice(items)
            lst[i] = value
        else:
            records[rnd.randrange(len(records))] = value
        return f"deep {where} {_describe_value(value)}"
    if op == "container" and dict_records:
        record = rnd.choice(dict_records)
        key = {"jsonspans": "annotations", "doccano": "label", "argilla": "annotation"}[format]
        key = next((k for k in ANNOTATION_KEYS if k in record), key)
        value = rnd.choice(BAD_CONTAINERS)
        record[key] = value
        return f"{key}={_describe_value(value)}"
    if op == "unknown_key" and dict_records:
        record = rnd.choice(dict_records)
        old = next((k for k in ANNOTATION_KEYS if k in record), None)
        if old is None:
            return "unknown_key (none)"
        new = rnd.choice([k for k in UNKNOWN_KEYS if k != old])
        record[new] = record.pop(old)
        return f"key {old}->{new}"
    if op == "extra_keys" and dict_records:
        record = rnd.choice(dict_records)
        record[rnd.choice(("meta", "Comments", "_id", "text2", "ANNOTATIONS"))] = rnd.choice(([], {}, None, 5, "x"))
        return "extra key"
    if op == "dup_record":
        records.insert(rnd.randrange(len(records) + 1), json.loads(json.dumps(rnd.choice(records))))
        return "duplicated record"
    if op == "del_record" and len(records) > 1:
        del records[rnd.randrange(len(records))]
        return "deleted record"
    if op == "specific" and dict_records:
        return _mutate_specific(rnd.choice(dict_records), format, rnd)
    if dict_records:
        record = rnd.choice(dict_records)
        value = rnd.choice(BAD_TEXTS)
        record["text"] = value
        return f"text={_describe_value(value)}"
    records[rnd.randrange(len(records))] = rnd.choice((5, "x", [], None))
    return "record not an object"


def _mutate_specific(record: dict, format: str, rnd) -> str:
    """Layouts the format's readers have to tell apart."""
    if format == "jsonspans":
        annotations = record.get("annotations")
        if isinstance(annotations, list) and annotations and isinstance(annotations[0], dict):
            choice = rnd.choice(("fragments", "text_mismatch", "fragments_one"))
            if choice == "fragments":
                annotations[0]["fragments"] = rnd.choice(([[1, 2, 3]], "1 2", [[1, "2"]], [[0, 1], [5, 3]], {}))
            elif choice == "fragments_one":
                annotations[0]["fragments"] = [[annotations[0].get("begin", annotations[0].get("start")),
                                                annotations[0].get("end")]]  # fmt: skip
            else:
                annotations[0]["text"] = "outra coisa"
            return f"jsonspans {choice}"
        record["entities"] = [{"start": 0, "end": 3, "label": "Problema"}]
        return "jsonspans entities key"
    if format == "doccano":
        choice = rnd.choice(("both_keys", "dup_ids", "string_labels", "labels_and_label"))
        if choice == "both_keys":
            record["label"] = record.get("label") or [[0, 2, "Problema"]]
            record["entities"] = record.get("entities") or [
                {"id": 901, "label": "Teste", "start_offset": 0, "end_offset": 3}
            ]
        elif choice == "labels_and_label":
            record["labels"] = [[0, 1, "Teste"]]
            record.setdefault("label", [[0, 2, "Problema"]])
        elif choice == "dup_ids":
            entities = record.get("entities")
            if not (isinstance(entities, list) and len(entities) > 1 and all(isinstance(e, dict) for e in entities)):
                entities = [
                    {"id": 5, "label": "Problema", "start_offset": 0, "end_offset": 2},
                    {"id": 6, "label": "Teste", "start_offset": 1, "end_offset": 3},
                ]
                record["entities"] = entities
                record.pop("label", None)
            entities[1]["id"] = entities[0]["id"]
        else:
            record["label"] = ["positivo", "urgente"]
        return f"doccano {choice}"
    choice = rnd.choice(("v2_with_prediction", "v2_with_annotation_null", "status_string", "several_questions",
                         "draft_only", "two_submitted", "status_list_short"))  # fmt: skip
    value = [{"start": 0, "end": 2, "label": "Problema"}]
    if choice.startswith("v2_with"):
        if "responses" not in record:
            record["fields"] = {"text": record.get("text", "xx")}
            record["responses"] = {"q": [{"value": value, "status": "submitted"}]}
            record.pop("annotation", None)
        if choice == "v2_with_prediction":
            record["prediction"] = rnd.choice(([], None, [["Teste", 0, 1, 0.5]]))
        else:
            record["annotation"] = None
    elif choice in ("status_string", "status_list_short"):
        key = next((k for k in record if k.endswith(".responses")), None)
        if key is None:
            key = "entidades.responses"
            record[key] = [value]
            record.pop("annotation", None)
            record.pop("responses", None)
            record.pop("prediction", None)
        record[key + ".status"] = "submitted" if choice == "status_string" else []
    elif choice == "several_questions":
        record.pop("annotation", None)
        record.pop("prediction", None)
        record["responses"] = {
            "a": [{"value": value, "status": "submitted"}],
            "b": [{"value": [], "status": "submitted"}],
        }
        record.setdefault("fields", {"text": record.get("text", "xx")})
    elif choice == "draft_only":
        record.pop("annotation", None)
        record.pop("prediction", None)
        record["responses"] = {"q": [{"value": value, "status": "draft"}]}
        record.setdefault("fields", {"text": record.get("text", "xx")})
    else:
        record.pop("annotation", None)
        record.pop("prediction", None)
        record["responses"] = {"q": [{"value": value, "status": "submitted"}, {"value": [], "status": "submitted"}]}
        record.setdefault("fields", {"text": record.get("text", "xx")})
    return f"argilla {choice}"


def _describe_value(value: Any) -> str:
    if isinstance(value, str) and value.startswith("@@"):
        return value.strip("@").lower()
    text = repr(value)
    return text if len(text) <= 24 else text[:21] + "..."


def _text_lines_op(case: Case, rnd, name: str, edit: Callable[[list[str], Any], str]) -> str:
    """Decode one file, edit its lines, encode it back in its codec."""
    codec = case.codecs.get(name, "utf-8")
    text = decode_guess(case.files[name])
    lines = text.split("\n")
    what = edit(lines, rnd)
    try:
        case.files[name] = "\n".join(lines).encode(codec)
    except UnicodeEncodeError:
        case.files[name] = "\n".join(lines).encode("utf-8")
    return what


def _brat_op(case: Case, rnd) -> str:
    """A BRAT-specific mutation: suffix case, missing partner, malformed or conflicting T lines, CRLF offsets."""
    anns = sorted(n for n in case.files if n.lower().endswith(".ann"))
    if not anns:
        return "brat (no .ann)"
    ann = rnd.choice(anns)
    txt = ann[:-4] + ".txt"
    op = rnd.choice(("upper_suffix", "upper_suffix", "missing_partner", "t_line", "t_line", "t_line", "crlf_text",
                     "empty_ann", "unknown_kind"))  # fmt: skip
    if op == "upper_suffix":
        which = rnd.choice(("both", "txt", "ann"))
        for name, upper in ((txt, txt[:-4] + ".TXT"), (ann, ann[:-4] + ".ANN")):
            if name in case.files and (which == "both" or name.endswith(which)):
                case.files[upper] = case.files.pop(name)
                if case.target == name:
                    case.target = upper
        return f"brat upper-case suffix ({which})"
    if op == "missing_partner":
        victim = rnd.choice((txt, ann))
        case.files.pop(victim, None)
        if case.target == victim:
            case.target = txt if victim == ann else ann
        return f"brat missing .{victim[-3:]}"
    if op == "empty_ann":
        case.files[ann] = rnd.choice((b"", b"\n", b"  \n"))
        return "brat empty .ann"
    if op == "crlf_text" and txt in case.files:
        text = decode_guess(case.files[txt])
        case.files[txt] = text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
        return "brat CRLF text, LF offsets"

    def edit(lines: list[str], rnd) -> str:
        t_lines = [i for i, line in enumerate(lines) if line.startswith("T")]
        if op == "unknown_kind" or not t_lines:
            odd_line = rnd.choice(("X1\tcoisa 1 2\tx", "t1\tProblema 0 1\tx", " T1\tP 0 1\tx"))
            lines.insert(rnd.randint(0, len(lines)), odd_line)
            return "brat unknown line kind"
        i = rnd.choice(t_lines)
        columns = lines[i].split("\t")
        kind = rnd.choice(("dup_id", "two_columns", "offsets_text", "reversed", "fragments", "no_label", "big",
                           "quoted_mismatch", "bad_id", "space_sep"))  # fmt: skip
        if kind == "dup_id":
            lines.insert(i + 1, lines[i])
        elif kind == "two_columns":
            lines[i] = "\t".join(columns[:2])
        elif kind == "space_sep":
            lines[i] = " ".join(columns)
        elif len(columns) >= 2:
            label, _, offsets = columns[1].partition(" ")
            new = {
                "offsets_text": f"{label} dez 20",
                "reversed": f"{label} 20 10",
                "fragments": f"{label} 1 3;;5 7",
                "no_label": f" {offsets}",
                "big": f"{label} {'9' * 5000} {'9' * 5001}",
                "quoted_mismatch": columns[1],
                "bad_id": columns[1],
            }[kind]
            columns[1] = new
            if kind == "quoted_mismatch" and len(columns) == 3:
                columns[2] = "texto diferente"
            if kind == "bad_id":
                columns[0] = rnd.choice(("T", "Tx1", "T1.5", "T١"))
            lines[i] = "\t".join(columns)
        return f"brat T line {kind}"

    return _text_lines_op(case, rnd, ann, edit)


def _conll_op(case: Case, rnd) -> str:
    """A CoNLL-specific mutation: broken tags, missing tag column, DOCSTART, suffix case."""
    name = rnd.choice(sorted(case.files))
    op = rnd.choice(("tag", "tag", "tag", "no_tag", "docstart", "blank", "suffix", "columns"))
    if op == "suffix" and case.target == "":
        case.files[name.upper()] = case.files.pop(name)
        return "conll upper-case name"

    def edit(lines: list[str], rnd) -> str:
        tagged = [i for i, line in enumerate(lines) if len(line.split()) >= 2 and not line.startswith("-DOCSTART-")]
        if not tagged:
            return "conll (no token lines)"
        i = rnd.choice(tagged)
        if op == "no_tag":
            lines[i] = lines[i].split()[0]
        elif op == "docstart":
            lines.insert(i, rnd.choice(("-DOCSTART- -X- -X- O", "-DOCSTART-", "-docstart- O")))
        elif op == "blank":
            lines.insert(i, rnd.choice(("", "   ", "\t", "\x0c")))
        elif op == "columns":
            lines[i] = lines[i].replace(" ", "\t") if "\t" not in lines[i] else lines[i].replace("\t", "  ")
        else:
            bad = rnd.choice(("B-", "X-Foo", "b-disorders", "I-", "O-O", "B-Disorders-I", "Disorders-B", "E-Disorders",
                              "U-X", "B- ", "BX", "S-S-S", "I-Sinal Sintoma", "B-\x85"))  # fmt: skip
            separator = "\t" if "\t" in lines[i] else " "
            lines[i] = separator.join(lines[i].split(separator)[:-1] + [bad])
        return f"conll {op}"

    return _text_lines_op(case, rnd, name, edit)


def _semclinbr_op(case: Case, rnd) -> str:
    """A SemClinBr-specific mutation: a second <TAGS>, nested tags, declarations, ids, types, offsets."""
    name = rnd.choice(sorted(case.files))
    op = rnd.choice(("second_tags", "nested", "nested", "declaration", "tag_attr", "tag_attr", "offsets", "no_id",
                     "dup_id", "element_type", "no_text", "no_tags", "spans"))  # fmt: skip

    def edit(lines: list[str], rnd) -> str:
        entities = [i for i, line in enumerate(lines) if re.match(r"\s*<Entity\b", line)]
        if op == "declaration":
            first = lines[0] if lines else ""
            encoding = rnd.choice(("x-unknown-enc", "latin-1", "ascii", "utf-16", "UTF8"))
            lines[0] = re.sub(r'encoding="[^"]*"', f'encoding="{encoding}"', first) if "encoding" in first else first
            return f"semclinbr declaration {encoding}"
        if op == "no_text":
            lines[:] = [re.sub(r"<TEXT>.*?</TEXT>", "", line) for line in lines]
            return "semclinbr no TEXT"
        if op == "no_tags":
            lines[:] = [
                line
                for line in lines
                if line.strip() not in ("<TAGS>", "</TAGS>") and not re.match(r"\s*<(Entity|Relation)", line)
            ]
            return "semclinbr no TAGS"
        if not entities:
            return "semclinbr (no tags)"
        i = rnd.choice(entities)
        if op == "second_tags" and len(entities) > 1:
            split = entities[len(entities) // 2]
            lines.insert(split, "</TAGS>\n<TAGS>")
        elif op == "nested":
            style = rnd.choice(("group", "child"))
            if style == "group":
                lines[i] = f"<Group>{lines[i]}</Group>"
            else:
                # the entity gets a child entity over the same offsets
                child = re.sub(r'id="([^"]*)"', r'id="\1c"', lines[i])
                lines[i] = lines[i].replace("/>", f">{child}</Entity>", 1)
            return f"semclinbr nested ({style})"
        elif op == "tag_attr":
            value = rnd.choice(
                ("", "null", "T999", "T047|", "|", "dsyn|T999", "Finding|Finding", "DISO|ANAT", "T047 | T023")
            )
            lines[i] = re.sub(r'tag="[^"]*"', f'tag="{value}"', lines[i])
            return f"semclinbr tag={value!r}"
        elif op == "offsets":
            start, end = rnd.choice(
                (("a", "3"), ("-5", "3"), ("3", "2"), ("0", "99999"), ("1.5", "3"), ("9" * 5000, "1"))
            )
            lines[i] = re.sub(r'start="[^"]*"', f'start="{start}"', lines[i])
            lines[i] = re.sub(r'end="[^"]*"', f'end="{end}"', lines[i])
            return f"semclinbr offsets {start[:6]}-{end[:6]}"
        elif op == "no_id":
            lines[i] = re.sub(r'\sid="[^"]*"', "", lines[i])
        elif op == "dup_id":
            lines.insert(i + 1, lines[i])
        elif op == "spans":
            value = rnd.choice(("", "3~1", "a~b", "1~3,", "0~2,4~6", "5"))
            lines[i] = re.sub(r'start="[^"]*" end="[^"]*"', f'spans="{value}"', lines[i])
            return f"semclinbr spans={value!r}"
        else:
            element = rnd.choice(("Disease_or_Syndrome", "Finding", "Tag", "Concept", "Xyz"))
            lines[i] = re.sub(r'\stag="[^"]*"', "", lines[i]).replace("<Entity", f"<{element}", 1)
            return f"semclinbr element <{element}>"
        return f"semclinbr {op}"

    return _text_lines_op(case, rnd, name, edit)


def _byte_op(case: Case, rnd) -> str:
    """A format-blind mutation of one file's bytes: flips, truncation, lines, invalid bytes, encodings."""
    name = rnd.choice(sorted(case.files))
    data = case.files[name]
    op = rnd.choice(("flip", "truncate", "dup_line", "del_line", "invalid", "crlf", "cr", "bom", "utf16_bad",
                     "cp1252", "utf16", "odd_char", "odd_char", "swap_lines"))  # fmt: skip
    if op == "flip" and data:
        buffer = bytearray(data)
        for _ in range(rnd.randint(1, 3)):
            buffer[rnd.randrange(len(buffer))] = rnd.randrange(256)
        data = bytes(buffer)
    elif op == "truncate":
        data = data[: rnd.randint(0, len(data))]
    elif op in ("dup_line", "del_line", "swap_lines"):
        lines = data.split(b"\n")
        i = rnd.randrange(len(lines))
        if op == "dup_line":
            lines.insert(i, lines[i])
        elif op == "del_line":
            del lines[i]
        else:
            j = rnd.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        data = b"\n".join(lines)
    elif op == "invalid":
        position = rnd.randint(0, len(data))
        data = data[:position] + rnd.choice(BAD_BYTES) + data[position:]
    elif op == "crlf":
        data = data.replace(b"\r\n", b"\n") if b"\r\n" in data else data.replace(b"\n", b"\r\n")
    elif op == "cr":
        data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r")  # old Mac line ends
    elif op == "bom":
        data = codecs.BOM_UTF8 + data
    elif op == "utf16_bad":
        # a UTF-16 byte-order mark followed by data that is not UTF-16: an odd length or a lone surrogate
        tail = rnd.choice((b"\x00", b"\x00\xd8", b"\xdc"))
        data = codecs.BOM_UTF16_LE + decode_guess(data).encode("utf-16-le") + tail
    elif op == "cp1252":
        data = decode_guess(data).encode("cp1252", errors="replace")
    elif op == "utf16":
        data = decode_guess(data).encode("utf-16")
    elif op == "odd_char":
        text = decode_guess(data)
        position = rnd.randint(0, len(text))
        data = (text[:position] + rnd.choice(ODD_INSERTS) + text[position:]).encode("utf-8")
    case.files[name] = data
    return f"bytes {op}"


STRUCTURE_OPS: dict[str, Callable[[Case, Any], str]] = {
    "brat": _brat_op,
    "conll": _conll_op,
    "semclinbr": _semclinbr_op,
}


def mutate(case: Case, rnd, structure: int | None = None, byte_level: int | None = None) -> Case:
    """`case` changed by `structure` format-aware and `byte_level` format-blind mutations (random when None)."""
    case = Case(case.format, dict(case.files), case.target, list(case.made), codecs=dict(case.codecs))
    if structure is None and byte_level is None:
        structure = rnd.choice((0, 1, 1, 1, 2))
        byte_level = rnd.choice((0, 0, 1)) if structure else 1
    structure, byte_level = structure or 0, byte_level or 0
    if case.format in ("jsonspans", "doccano", "argilla") and structure:
        name = case.target
        loaded = load_json(case.files[name], name)
        if loaded is not None:
            records, layout = loaded
            for _ in range(structure):
                case.made.append(_mutate_json_records(records, case.format, rnd))
            if layout == "object" and len(records) != 1:
                layout = "list"
            text = dump_json(records, layout, rnd) if records else "[]"
            try:
                case.files[name] = text.encode(case.codecs.get(name, "utf-8"))
            except UnicodeEncodeError:
                case.files[name] = text.encode("utf-8")
    elif structure:
        for _ in range(structure):
            if case.files:
                case.made.append(STRUCTURE_OPS[case.format](case, rnd))
    for _ in range(byte_level):
        if case.files:
            case.made.append(_byte_op(case, rnd))
    return case


def make_case(format: str, rnd, sources: tuple[str, ...] = ("valid", "generated", "fixture", "corpus")) -> Case:
    """One input of `format`: valid generated, or a mutation of a generated, fixture or real corpus input.

    sources: the kinds to draw from; "corpus" falls back to "fixture" when the corpus is absent.
    """
    source = rnd.choice(sources)
    if source == "valid":
        return GENERATORS[format](rnd)
    if source == "corpus" and corpus_available(format):
        base = corpus_case(format, rnd)
    elif source in ("fixture", "corpus"):
        base = fixture_case(format, rnd)
    else:
        base = GENERATORS[format](rnd)
    return mutate(base, rnd)


# ---------------------------------------------------------------------------------------------------------
# Counting annotations, independently of the readers


class Location(NamedTuple):
    """Where an annotation was read, as a report entry should name it."""

    files: tuple[str, ...]  # file names that identify it (BRAT: the .ann and the .txt)
    kind: str  # "line", "record" or "tag"; "" when only the file is known
    unit: str = ""  # the line or record number, or the tag id
    sub: str = ""  # the annotation's 1-based index in its record, alternatives split by "|" ("" for none)

    def describe(self) -> str:
        sub = f" annotation {self.sub.split('|')[0]}" if self.sub else ""
        return f"{self.files[0]} {self.kind} {self.unit}{sub}".strip() if self.kind else self.files[0]


class Annotation(NamedTuple):
    """One annotation of the input: what the output must hold (`key`), where it was read, its label as written."""

    key: tuple
    where: Location
    label: str


def fold_label(label: Any) -> str:
    """A label compared through ASCII letters and digits only: an encoding guess is not a loss, `IS_PUNCT` is."""
    if not isinstance(label, str):
        try:
            label = json.dumps(label)
        except (ValueError, TypeError):
            label = "<unprintable>"
    folded = "".join(c for c in label if c.isascii() and c.isalnum()).lower()
    return folded or label


def decode_guess(data: bytes) -> str:
    """The harness's own decoding: BOMs, then UTF-8, else each line as UTF-8, cp1252 or latin-1."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    for bom, codec in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom):].decode(codec, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    pieces = []
    for line in data.splitlines(keepends=True):
        for codec in ("utf-8", "cp1252", "latin-1"):
            try:
                pieces.append(line.decode(codec))
                break
            except UnicodeDecodeError:
                continue
    return "".join(pieces)


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except ValueError:  # an integer beyond the int/str conversion limit
        return "<big int>"


def _offset(value: Any) -> Any:
    """An offset as the output would hold it: integers, and integral floats or digit strings as integers."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit() and len(value) < 100:
        return int(value)
    return ("other", _safe_str(value)[:20])


def input_files(case: Case, suffixes: tuple[str, ...]) -> tuple[PurePosixPath, list[str]]:
    """(root of document ids, the case's files a reader of `case.target` reads), as `suffixes` (lower-case) say."""
    if case.target in case.files:
        return PurePosixPath(case.target).parent, [case.target]
    root = PurePosixPath(case.target) if case.target else PurePosixPath(".")
    prefix = "" if not case.target else case.target.rstrip("/") + "/"
    names = sorted(
        n for n in case.files
        if n.startswith(prefix) and PurePosixPath(n).suffix.lower() in suffixes
        and not any(part.startswith(".") for part in PurePosixPath(n[len(prefix):]).parts)
    )  # fmt: skip
    return root, names


def _relative_stem(name: str, root: PurePosixPath) -> str:
    path = PurePosixPath(name)
    relative = path.relative_to(root) if str(root) != "." else path
    return relative.with_suffix("").as_posix()


def count_brat(case: Case) -> list[Annotation]:
    """Every line starting with `T` in the `.ann` files read (suffixes in any case), one annotation each."""
    root, names = input_files(case, (".txt", ".ann"))
    if case.target in case.files:
        stem = PurePosixPath(case.target).with_suffix("")
        names = [n for n in case.files if PurePosixPath(n).with_suffix("") == stem]
    annotations = []
    for name in names:
        if PurePosixPath(name).suffix.lower() != ".ann":
            continue
        doc_id = _relative_stem(name, root)
        stem = PurePosixPath(name).with_suffix("")
        partners = tuple(n for n in case.files if PurePosixPath(n).with_suffix("") == stem)
        files = tuple(PurePosixPath(n).name for n in [name, *sorted(set(partners) - {name})])
        for number, line in enumerate(LINE_BREAK.split(decode_guess(case.files[name])), start=1):
            if not line.startswith("T"):
                continue
            columns = line.split("\t")
            entity_id = columns[0].split(" ")[0]
            label = columns[1].split(" ")[0] if len(columns) > 1 else ""
            key = (doc_id, entity_id, fold_label(label))
            annotations.append(Annotation(key, Location(files, "line", str(number)), label))
    return annotations


JSON_START_KEYS = ("begin", "start", "start_offset")
JSON_END_KEYS = ("end", "end_offset")
# Annotations in JSON text that does not parse: start keys, [start, end, ...] and [label, start, end] lists.
JSON_TEXTUAL = re.compile(
    r'"(?:begin|start|start_offset)"\s*:|\[\s*-?\d+\s*,\s*-?\d+\s*,|\[\s*"[^"\n]*"\s*,\s*-?\d+\s*,\s*-?\d'
)
JSON_DOC_ID_KEYS = {"jsonspans": ("doc_id", "id"), "doccano": ("id", "doc_id"), "argilla": ("id", "external_id")}
# Keys that hold no gold spans: model output, relations, layout fields.
JSON_NOT_GOLD = {"prediction", "suggestions", "relations", "metadata", "fields", "tokens", "responses", "vectors"}


def _span_like(value: Any, depth: int = 0) -> int:
    """How many span-like items (offsets objects, [start, end, label] or [label, start, end]) `value` holds."""
    if depth > 8:
        return 0
    if isinstance(value, dict):
        if any(k in value for k in JSON_START_KEYS) and any(k in value for k in JSON_END_KEYS):
            return 1
        return sum(_span_like(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        if len(value) in (3, 4) and (
            (_is_int(value[0]) and _is_int(value[1]) and isinstance(value[2], str))
            or (isinstance(value[0], str) and _is_int(value[1]) and _is_int(value[2]))
        ):
            return 1
        return sum(_span_like(v, depth + 1) for v in value)
    return 0


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json_item(format: str, item: Any) -> tuple[Any, Any, Any]:
    """(start, end, label) of one annotation item of `format`, None where absent."""
    if isinstance(item, dict):
        start = next((item[k] for k in JSON_START_KEYS if k in item), None)
        end = next((item[k] for k in JSON_END_KEYS if k in item), None)
        return start, end, item.get("label")
    if isinstance(item, list) and len(item) >= 3:
        if format == "doccano":
            return item[0], item[1], item[2]
        return item[1], item[2], item[0]
    return None, None, item


def _gold_lists(format: str, record: dict) -> tuple[list[list], int]:
    """The gold annotation lists of one record, and how many span-like items it holds elsewhere."""
    lists: list[list] = []
    elsewhere = 0
    if format == "jsonspans":
        known = ("annotations",)
    elif format == "doccano":
        known = ("label", "labels", "entities")
    else:
        known = ("annotation",)
    for key in [k for k in record if k in known]:  # the record's own order, as a reader numbers them
        value = record[key]
        if isinstance(value, list):
            lists.append(value)
        elif value is not None:
            elsewhere += _span_like(value)
    if format == "argilla":
        questions = []
        if isinstance(record.get("responses"), dict):
            questions += [v for v in record["responses"].values()]
        for key, value in record.items():
            if key.endswith(".responses") and isinstance(value, list):
                status = record.get(key + ".status")
                if isinstance(status, str):
                    statuses = [status] * len(value)  # one status for every response
                else:
                    statuses = list(status) if isinstance(status, list) else []
                statuses += ["submitted"] * (len(value) - len(statuses))
                questions.append([{"value": v, "status": s} for v, s in zip(value, statuses)])
        for answers in questions:
            if not isinstance(answers, list):
                elsewhere += _span_like(answers)
                continue
            submitted = [a for a in answers if isinstance(a, dict) and a.get("status", "submitted") == "submitted"]
            if submitted:
                value = submitted[0].get("value")
                if isinstance(value, list):
                    lists.append(value)
                elif value is not None:
                    elsewhere += _span_like(value)
    for key, value in record.items():
        ignored = key in known or key in JSON_NOT_GOLD or key.endswith((".responses", ".suggestion", ".status"))
        if not ignored:
            elsewhere += _span_like(value)
    return lists, elsewhere


def _json_values(data: bytes, name: str) -> Iterator[tuple[str, str, Any]]:
    """(kind, unit, value) for each JSON value of a file; value is `Unparsed` where the harness cannot parse it."""
    text = decode_guess(data)
    if not name.lower().endswith(".jsonl"):
        try:
            whole = json.loads(text)
        except (ValueError, RecursionError):
            whole = Unparsed(text)
            if text.lstrip().startswith("[") or not text.strip():
                yield "", "", whole
                return
        if isinstance(whole, list):
            for number, value in enumerate(whole, start=1):
                yield "record", str(number), value
            return
        if not isinstance(whole, Unparsed):
            yield "record", "1", whole
            return
    for number, line in enumerate(LINE_BREAK.split(text), start=1):
        if not line.strip():
            continue
        try:
            yield "line", str(number), json.loads(line)
        except (ValueError, RecursionError):
            yield "line", str(number), Unparsed(line)


class Unparsed(str):
    """JSON text the harness could not parse: its annotations are counted textually."""


def count_json(case: Case) -> list[Annotation]:
    """Every gold annotation item of the JSON records (plus span-like items under other keys, by record)."""
    name = case.target
    if name not in case.files:
        return []
    files = (PurePosixPath(name).name,)
    stem = PurePosixPath(name).stem
    annotations = []
    ordinal = 0
    for kind, unit, value in _json_values(case.files[name], name):
        if isinstance(value, Unparsed):
            for _ in JSON_TEXTUAL.finditer(value):
                annotations.append(Annotation(("?unparsed", name), Location(files, kind, unit), "?"))
            continue
        ordinal += 1
        if not isinstance(value, dict):
            for _ in range(_span_like(value)):
                annotations.append(Annotation(("?record", name, unit), Location(files, kind, unit), "?"))
            continue
        ids = [_safe_str(value[k]) for k in JSON_DOC_ID_KEYS[case.format] if value.get(k) is not None]
        doc_id = next((i for i in ids if i.strip()), f"{stem}-{ordinal}")
        lists, elsewhere = _gold_lists(case.format, value)
        running = 0  # a record with several lists (doccano `label` and `entities`) may be numbered across them
        for items in lists:
            for index, item in enumerate(items, start=1):
                running += 1
                start, end, label = _json_item(case.format, item)
                key = (doc_id, _offset(start), _offset(end), fold_label(label))
                sub = str(index) if index == running else f"{index}|{running}"
                annotations.append(Annotation(key, Location(files, kind, unit, sub), _safe_str(label)[:30]))
        for _ in range(elsewhere):
            annotations.append(Annotation(("?elsewhere", doc_id), Location(files, kind, unit), "?"))
    return annotations


CONLL_SUFFIXES = (
    ".conll", ".conll03", ".conllx", ".txt", ".tsv", ".col", ".ner",
    ".iob", ".iob1", ".iob2", ".bio", ".iobes", ".bioes", ".bilou",
)  # fmt: skip
CONLL_PREFIX = re.compile(r"^([BIESLU])-(.*)$")
CONLL_SUFFIX = re.compile(r"^(.+)-([BIESLU])$")


def _conll_tag(tag: str) -> tuple[str, str] | None:
    """(prefix, label) of a CoNLL tag, None for O or anything that is not a tag."""
    match = CONLL_PREFIX.match(tag)
    if match is not None:
        prefix, label = match.groups()
    else:
        match = CONLL_SUFFIX.match(tag)
        if match is None:
            return None
        label, prefix = match.groups()
    return (prefix, label.strip()) if label.strip() else None


def count_conll(case: Case) -> list[Annotation]:
    """Every chunk: B-/S-/U- starts one, I-/E-/L- continue an open chunk of their label or start one."""
    _, names = input_files(case, CONLL_SUFFIXES)
    annotations = []
    for name in names:
        stem = PurePosixPath(name).stem
        files = (PurePosixPath(name).name,)
        open_label: str | None = None
        for number, line in enumerate(LINE_BREAK.split(decode_guess(case.files[name])), start=1):
            # Columns: tabs, else runs of spaces; other whitespace (\xa0, \x0b, U+2028) belongs to its column.
            columns = [c.strip(" ") for c in line.split("\t")] if "\t" in line else re.split(" +", line.strip(" "))
            if not line.strip() or columns[0] == "-DOCSTART-":
                open_label = None
                continue
            tag = _conll_tag(columns[-1]) if len(columns) >= 2 and columns[0] else None
            if tag is None:
                open_label = None
                continue
            prefix, label = tag
            continuing = prefix in "IEL" and open_label == label
            if not continuing:
                annotations.append(Annotation((stem, fold_label(label)), Location(files, "line", str(number)), label))
            open_label = None if prefix in "ESLU" else label
    return annotations


@lru_cache(maxsize=1)
def _semantic_table() -> dict[str, tuple[str, str]]:
    """Type or group (TUI, abbreviation, name; group abbreviation, name) -> (group name, group abbreviation)."""
    table: dict[str, tuple[str, str]] = {}
    groups: dict[str, tuple[str, str]] = {}
    path = REPO / "src" / "spacy_clinical_pt" / "data" / "semantic_groups.tsv"
    lines = [line for line in path.read_text(encoding="utf8").split("\n") if line and not line.startswith("#")]
    header = lines[0].split("\t")
    for line in lines[1:]:
        row = dict(zip(header, line.split("\t")))
        for key in (row["tui"], row["abbreviation"], row["type_name"]):
            table[_semantic_key(key)] = (row["group_name"], row["group"])
        for key in (row["group"], row["group_name"]):
            groups[_semantic_key(key)] = (row["group_name"], row["group"])
    return {**groups, **table}


def _semantic_key(name: str) -> str:
    return " ".join(name.replace("_", " ").split()).casefold()


def _semclinbr_group(value: str) -> str | None:
    found = _semantic_table().get(_semantic_key(value))
    return found[0] if found else None


SEMCLINBR_GENERIC = {"entity", "entities", "tag", "annotation", "mention", "term", "concept", "span", "extent"}
SEMCLINBR_TEXTUAL = re.compile(r"<[\w:.-]+[^>]*\s(?:start|spans)\s*=")


def count_semclinbr(case: Case) -> list[Annotation]:
    """Every element with offsets anywhere outside <TEXT>: one annotation per semantic group of its types.

    A type the harness cannot resolve (unknown, null) is an annotation no output can hold: only a report
    entry naming the tag accounts for it. Non-consuming tags (offsets -1, empty spans) are not annotations.
    """
    _, names = input_files(case, (".xml",))
    annotations = []
    for name in names:
        stem = PurePosixPath(name).stem
        files = (PurePosixPath(name).name,)
        root = _parse_xml(case.files[name])
        if root is None:
            for _ in SEMCLINBR_TEXTUAL.finditer(decode_guess(case.files[name])):
                annotations.append(Annotation(("?unparsed", name), Location(files, ""), "?"))
            continue
        inside_text = {id(e) for t in root.iter("TEXT") for e in t.iter()}
        for element in root.iter():
            if id(element) in inside_text or (element.get("start") is None and element.get("spans") is None):
                continue
            spans = element.get("spans")
            if (spans is not None and not spans.strip()) or (element.get("start"), element.get("end")) == ("-1", "-1"):
                continue
            tag_id = element.get("id") or f"#<{element.tag}>"
            where = Location(files, "tag", tag_id)
            value = element.get("tag")
            if value is None:
                values = [] if element.tag.casefold() in SEMCLINBR_GENERIC else [element.tag]
            else:
                # an empty piece ("T047|") is no type, unless it is all there is
                values = [v.strip() for v in value.split("|") if v.strip()] or [""]
            groups = []
            for v in values or ["?"]:
                group = _semclinbr_group(v) if v else None
                if group is None:
                    annotations.append(Annotation((stem, tag_id, "?" + v), where, v))
                elif group not in groups:
                    groups.append(group)
            for group in groups:
                annotations.append(Annotation((stem, tag_id, fold_label(group)), where, group))
    return annotations


def _parse_xml(data: bytes) -> ET.Element | None:
    """The XML root as the harness reads it (a declared encoding other than UTF-8, else its own guess).

    None when it is not well-formed.
    """
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    declared = re.search(rb"<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']", data[:200])
    text = None
    name = declared.group(1).decode("ascii") if declared is not None else None
    if name is not None and _semantic_key(name).replace("-", "") not in ("utf8", "utf"):
        try:
            text = data.decode(name, errors="replace")
            if text.startswith("\ufeff"):
                text = text[1:]
        except LookupError:
            text = None
    if text is None:
        text = decode_guess(data)
    try:
        return ET.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", text, count=1))
    except (ET.ParseError, ValueError, RecursionError):
        return None


COUNTERS: dict[str, Callable[[Case], list[Annotation]]] = {
    "brat": count_brat,
    "jsonspans": count_json,
    "doccano": count_json,
    "argilla": count_json,
    "conll": count_conll,
    "semclinbr": count_semclinbr,
}


def count_annotations(case: Case) -> list[Annotation]:
    """The input's annotations, counted by the harness's own parsing of `case.files`."""
    return COUNTERS[case.format](case)


# ---------------------------------------------------------------------------------------------------------
# The output and the report


def output_keys(format: str, docs: list, known_stems: set[str]) -> tuple[Counter, set[str]]:
    """The keys (as `count_annotations` makes them) of the entities in `doc.spans["sc"]`, and the document keys."""
    keys: Counter = Counter()
    documents: set[str] = set()
    for doc in docs:
        data = doc.user_data.get("clinical_pt", {})
        doc_id = str(data.get("doc_id"))
        documents.add(doc_id if format != "conll" or doc_id in known_stems else doc_id.rsplit("-", 1)[0])
        stored = data.get("entities", {})
        seen: set[str] = set()
        for span in doc.spans.get("sc", []):
            if span.id_ in seen:
                continue  # another fragment (or an entity whose id was used twice)
            seen.add(span.id_)
            entity = stored.get(span.id_) or {}
            start, end = entity.get("start", span.start_char), entity.get("end", span.end_char)
            label = fold_label(span.label_)
            if format == "brat":
                keys[(doc_id, span.id_, label)] += 1
            elif format == "semclinbr":
                tag_id = f"#<{_element(entity)}>" if span.id_.startswith("#") else span.id_.split(":")[0]
                keys[(doc_id, tag_id, label)] += 1
            elif format == "conll":
                stem = doc_id if doc_id in known_stems else doc_id.rsplit("-", 1)[0]
                keys[(stem, label)] += 1
            else:
                keys[(doc_id, start, end, label)] += 1
    return keys, documents


def _element(entity: dict) -> str:
    return (entity.get("attributes") or {}).get("element", "Entity")


class Entry(NamedTuple):
    """A report entry as the harness reads its `where`."""

    list: str  # "errors", "dropped" or "repaired"
    file: str  # the case file name it names ("" for none)
    kind: str  # "line", "record", "tag" or ""
    unit: str
    sub: str
    whole_file: bool = False  # an error about the file's bytes (decoding): its line is where it failed


# Problems about a file's bytes: the file's text was not read at all, whatever line the entry names.
DECODING_PROBLEM = re.compile(r"byte offset|encoding|decod|not valid (?:utf|ascii|cp|latin|iso|windows)", re.I)


def parse_entry(list_name: str, where: str, names: list[str], problem: str = "") -> Entry:
    """Which file and location a report entry's `where` names (`names`: the case's file names)."""
    entry = _parse_where(list_name, where, names)
    return entry._replace(whole_file=list_name == "errors" and bool(DECODING_PROBLEM.search(problem)))


def _parse_where(list_name: str, where: str, names: list[str]) -> Entry:
    found, rest = "", ""
    for name in sorted(names, key=len, reverse=True):
        match = re.search(rf"(?:^|[/\\\s]){re.escape(name)}(?=$|[:\s])", where)
        if match is not None:
            found, rest = name, where[match.end():]
            break
    if not found:
        return Entry(list_name, "", "", "", "")
    sub = re.search(r"\b(?:annotation|entity|span|item) (\d+)", rest)
    sub_value = sub.group(1) if sub else ""
    tag = re.search(r"\btag (.+)$", rest)
    if tag is not None:
        return Entry(list_name, found, "tag", tag.group(1).strip(), "")
    record = re.search(r"\brecord (\d+)", rest)
    if record is not None:
        return Entry(list_name, found, "record", record.group(1), sub_value)
    line = re.search(r"\bline (\d+)", rest) or re.match(r":(\d+)", rest)
    if line is not None:
        return Entry(list_name, found, "line", line.group(1), sub_value)
    return Entry(list_name, found, "", "", "")


def covers(entry: Entry, where: Location) -> bool:
    """Whether a report entry names this annotation (see the module docstring for the rule)."""
    if entry.file not in where.files:
        return False
    if entry.list == "errors" and (
        where.kind == "" or entry.kind == "" or entry.whole_file or (entry.kind, where.kind) == ("line", "record")
    ):
        return True  # a file not read, or a JSON list not read past a line
    if entry.kind != where.kind or entry.unit != _unit(entry, where):
        return False
    return entry.sub in where.sub.split("|") or where.sub == "" or (entry.sub == "" and entry.list == "errors")


def _unit(entry: Entry, where: Location) -> str:
    # An id-less SemClinBr tag is named "#N <Element>" by the reader and "#<Element>" by the harness.
    if where.kind == "tag" and where.unit.startswith("#<") and entry.unit.startswith("#"):
        return entry.unit if entry.unit.endswith(" " + where.unit[1:]) else where.unit
    return where.unit


class Loss(NamedTuple):
    """Annotations of one key neither in the output nor named by the report."""

    count: int
    where: Location
    label: str
    reason: str


def find_losses(
    annotations: list[Annotation], output: Counter, entries: list[Entry], documents: set[str] = frozenset()
) -> list[Loss]:
    """For each key: lost = inputs - inputs named by an entry - outputs, when positive.

    output: the output's entity keys (`output_keys`); documents: its document keys, for the reason given.
    """
    groups: dict[tuple, list[Annotation]] = defaultdict(list)
    for annotation in annotations:
        groups[annotation.key].append(annotation)
    docs = set(documents) | {key[0] for key in output}
    losses = []
    for key, members in groups.items():
        unnamed = [a for a in members if not any(covers(e, a.where) for e in entries)]
        lost = len(unnamed) - output.get(key, 0)
        if lost <= 0:
            continue
        if key[0] == "?elsewhere":
            reason = "span-like items under a key the reader does not read"
        elif key[0].startswith("?"):
            reason = "annotation in a record the harness could not parse"
        elif key[0] not in docs:
            reason = "document not in the output"
        else:
            others = [k for k in output if k[:-1] == key[:-1] and k != key]
            reason = f"output has it with label {others[0][-1]!r}" if others else "entity not in the output"
        losses.append(Loss(lost, unnamed[0].where, unnamed[0].label, reason))
    return losses


# ---------------------------------------------------------------------------------------------------------
# Checking one case


class Finding(NamedTuple):
    """One property that does not hold for one input."""

    kind: str  # crash, hang, unlocated, lenient_stop, loss, rejected_valid, valid_reported, text_changed,
    # round_trip (export then convert changes a valid input's entities), counter (the harness disagrees with itself)
    mode: str  # "strict" or "lenient" (for round_trip: the export format)
    signature: str  # what it is, without clinical text (exception type, reader function, normalised message)
    detail: str  # an example: how the input was made and where (file and location), no clinical text
    count: int = 1  # annotations lost, for losses


class ConverterTimeout(BaseException):
    """A conversion ran past CONVERT_SECONDS (a BaseException, so no broad `except Exception` hides it)."""


LOCATED = re.compile(r"line \d+|:\d+\b|record \d+|annotation \d+|offsets?\b|tag \S+|byte \d+|column \d+")
WHOLE_FILE = re.compile(
    r"no documents were read|no such file|is empty|files in this folder|beside it|no <TEXT>|no <TAGS>|"
    r"unknown encoding|is a folder|not a file|no token lines|already read from|a BRAT input is"
)
LENIENT_ALLOWED = re.compile(r"no documents were read|no such file or folder")


def normalize_message(message: str, root: str) -> str:
    """A message for signatures: paths to file names, quoted text and numbers elided, 90 characters at most."""
    message = message.replace(root + "/", "").replace(root, "<input>")
    message = re.sub(r"'[^']{0,60}'|\"[^\"]{0,60}\"", "'…'", message)
    message = re.sub(r"\d+", "N", message)
    message = " ".join(message.split())
    return message if len(message) <= 90 else message[:87] + "..."


def project_frame(tb) -> str:
    """`module.py:function` of the deepest project frame of a traceback, and the deepest frame outside it."""
    frames = traceback.extract_tb(tb)
    ours = [f for f in frames if "spacy_clinical_pt" in f.filename]
    where = "?"
    if ours:
        frame = ours[-1]
        where = f"{frame.filename.split('spacy_clinical_pt/')[-1]}:{frame.name}"
    if frames and frames[-1] is not (ours[-1] if ours else None):
        last = frames[-1]
        library = "/".join(Path(last.filename).parts[-2:])
        where += f" (in {library}:{last.name})"
    return where


def _run(call: Callable[[], Any]) -> tuple[Any, BaseException | None]:
    """(result, None) or (None, the exception) of `call()`, which is stopped after CONVERT_SECONDS."""

    def alarm(signum, frame):
        raise ConverterTimeout()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, CONVERT_SECONDS)
    try:
        return call(), None
    except (Exception, ConverterTimeout) as err:
        return None, err
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _read_output(path: Path) -> list:
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    if not path.exists():
        return []
    return list(DocBin(store_user_data=True).from_disk(path).get_docs(Vocab()))


def check_case(case: Case, nlp, work: Path, convert: Callable[..., Any] | None = None) -> list[Finding]:
    """Convert `case` in strict and lenient mode and return every property that does not hold.

    nlp: the tokenizer pipeline given to `convert_path` (build it once).
    work: an empty folder for the input files, outputs and report.
    convert: the conversion function (default `spacy_clinical_pt.convert.convert_path`).
    """
    from spacy_clinical_pt.corpus import ConversionError

    if convert is None:
        from spacy_clinical_pt.convert import convert_path as convert
    root = work / "in"
    for name, data in case.files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    root.mkdir(parents=True, exist_ok=True)
    source = root / case.target if case.target else root
    names = sorted({PurePosixPath(n).name for n in case.files})
    annotations = count_annotations(case)
    stems = {PurePosixPath(n).stem for n in case.files}
    findings: list[Finding] = []
    label = case.describe()

    def note(kind: str, mode: str, signature: str, where: str = "", count: int = 1) -> None:
        detail = f"{label}; {where}" if where else label
        findings.append(Finding(kind, mode, f"{case.format} {mode} {kind}: {signature}", detail, count))

    if case.valid and len(annotations) != case.written:
        note("counter", "-", f"harness counted {len(annotations)} annotations, generator wrote {case.written}")

    for mode in ("strict", "lenient"):
        lenient = mode == "lenient"
        out = work / f"{mode}.spacy"
        report_path = work / f"{mode}.report.json"
        report, err = _run(
            lambda: convert(source, out, format=case.format, lenient=lenient, nlp=nlp,
                            report_path=report_path if lenient else None).to_dict()  # the report is built here too
        )  # fmt: skip
        if err is None:
            pass
        elif isinstance(err, ConverterTimeout):
            note("hang", mode, f"no result after {CONVERT_SECONDS} s")
            continue
        elif not isinstance(err, ConversionError):
            message = normalize_message(_safe_str(err), str(root))
            note("crash", mode, f"{type(err).__name__} at {project_frame(err.__traceback__)}: {message}")
            continue
        elif not lenient:
            message = _safe_str(err)
            short = normalize_message(message, str(root))
            names_file = str(source) in message or any(n in message for n in names)
            if not names_file or not (LOCATED.search(message.replace(str(root), "")) or WHOLE_FILE.search(message)):
                note("unlocated", mode, f"ConversionError without file and location: {short}")
            if case.valid:
                note("rejected_valid", mode, short)
            continue  # strict mode stops at its first problem: it has to name it, not what follows
        else:
            message = _safe_str(err)
            if not LENIENT_ALLOWED.search(message):
                note("lenient_stop", mode, normalize_message(message, str(root)))
                continue  # nothing was written: the stop is the finding, not every annotation it cost
            try:
                report = json.loads(report_path.read_text(encoding="utf8"))
            except (OSError, ValueError):
                report = {}
            if report.get("errors"):
                report["errors"] = report["errors"][:-1]  # the stop itself, naming the whole input
        docs = _read_output(out) if err is None else []
        output, documents = output_keys(case.format, docs, stems)
        entries = [
            parse_entry(list_name, str(item.get("where", "")), names, str(item.get("problem", "")))
            for list_name in ("errors", "dropped", "repaired")
            for item in report.get(list_name, [])
            if isinstance(item, dict)
        ]
        noted = {n for n in names for text in report.get("notes", []) if isinstance(text, str) and n in text}
        by_reason: dict[str, list[Loss]] = defaultdict(list)
        for loss in find_losses(annotations, output, entries, documents):
            # Notes are not entries (no `where`, "changes no annotation"), but say so for triage.
            by_reason[loss.reason + (" (a note names the file)" if set(loss.where.files) & noted else "")].append(loss)
        for reason, losses in by_reason.items():
            first = losses[0]
            where = f"{first.where.describe()} label {excerpt_label(first.label)}"
            note("loss", mode, f"{reason} [{_made_signature(case)}]", where, sum(loss.count for loss in losses))
        if case.valid and err is None:
            if lenient and (report.get("dropped") or report.get("errors")):
                first = (report.get("errors") or report.get("dropped"))[0]
                note("valid_reported", mode, normalize_message(f"{first['where']}: {first['problem']}", str(root)))
            changed = [d for d in docs if case.texts.get(str(fuzz_doc_id(d))) not in (None, d.text)]
            if changed:
                note("text_changed", mode, "output text differs from the input's", f"doc {fuzz_doc_id(changed[0])}")
            if not lenient:
                for export_format, problem in round_trip(docs, nlp, work, convert):
                    note("round_trip", export_format, problem)
    return findings


def entity_offsets(docs: list) -> Counter:
    """(text, start, end, folded label) of each entity in `doc.spans["sc"]`: what an export must give back."""
    found: Counter = Counter()
    for doc in docs:
        stored = doc.user_data.get("clinical_pt", {}).get("entities", {})
        seen: set[str] = set()
        for span in doc.spans.get("sc", []):
            if span.id_ not in seen:
                seen.add(span.id_)
                entity = stored.get(span.id_) or {}
                start, end = entity.get("start", span.start_char), entity.get("end", span.end_char)
                found[(doc.text, start, end, fold_label(span.label_))] += 1
    return found


def round_trip(docs: list, nlp, work: Path, convert: Callable[..., Any]) -> list[tuple[str, str]]:
    """Export `docs` as BRAT and as JSON spans, convert each back: the entities must be the same.

    Returns (export format, problem) for each round trip that fails: an exception, or entities that differ.
    """
    from spacy_clinical_pt.export import export_brat, export_jsonspans

    expected = entity_offsets(docs)
    problems = []
    for export_format, export, path in (
        ("brat", export_brat, work / "export_brat"),
        ("jsonspans", export_jsonspans, work / "export.jsonl"),
    ):
        out = work / f"round_trip_{export_format}.spacy"
        _, err = _run(lambda: (export(docs, path), convert(path, out, format=export_format, nlp=nlp)))
        if err is not None:
            message = normalize_message(_safe_str(err), str(work))
            problems.append((export_format, f"{type(err).__name__} at {project_frame(err.__traceback__)}: {message}"))
            continue
        back = entity_offsets(_read_output(out))
        if back != expected:
            missing, extra = sum((expected - back).values()), sum((back - expected).values())
            problems.append((export_format, f"export then convert: {missing} entities missing, {extra} new"))
    return problems


def fuzz_doc_id(doc) -> Any:
    return doc.user_data.get("clinical_pt", {}).get("doc_id")


def excerpt_label(label: str) -> str:
    """A label for messages: labels are short in real corpora, a generated one may not be."""
    return repr(label if len(label) <= 30 else label[:27] + "...")


def _made_signature(case: Case) -> str:
    """How the input was made, with numbers and file names elided: mutations group by kind."""
    return " + ".join(re.sub(r"\d+", "N", step) for step in case.made)
