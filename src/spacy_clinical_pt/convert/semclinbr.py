"""Reader for SemClinBr XML: MAE-style annotation files labelled with UMLS semantic types.

One file is one clinical note:

    <?xml version="1.0" encoding="UTF-8"?>
    <SemClinBr>
    <TEXT><![CDATA[Paciente com dor torácica ...]]></TEXT>
    <TAGS>
    <Entity id="E1" start="14" end="25" text="dor torácica" tag="T184" />
    <Entity id="E2" start="18" end="25" text="torácica" tag="T029|T082" />
    </TAGS>
    </SemClinBr>

Every element with offsets under a `<TAGS>` element is an entity, however deep (inside a grouping element
or another entity), and every `<TAGS>` block of the file is read. An entity has `id`, `start`, `end` (or
MAE 2's `spans="14~25"`, with `,`-separated pieces for a discontinuous entity), an optional `text` to check
the offsets against, and `tag`:
one or more UMLS semantic types separated by `|`, written as TUIs (`T047`), abbreviations (`dsyn`) or names
(`Disease or Syndrome`). When `tag` is absent the element name is read as the type (`<Disease_or_Syndrome>`),
unless it is a generic one such as `<Entity>` (which is also the name of UMLS type T071).
Link tags (`fromID`/`toID`) and non-consuming tags (offsets -1) are counted in `report.ignored_lines`.
What is not read is reported: a tag with offsets outside `<TAGS>`, elements inside `<TEXT>`. A file with
entity declarations in its DTD is refused (entity expansion can exhaust memory), as is one with several
`<TEXT>` elements.

Types are mapped to their UMLS semantic group (`data/semantic_groups.tsv`, the NLM SemGroups table), and the
group name is the label ("Disorders", "Anatomy", "Chemicals & Drugs", ...). A tag whose types fall in
different groups gives **one entity per group** over the same offsets (a finding located in a body part can be
both `Disorders` and `Anatomy`: the multilabel tagger learns both); these entities have ids `<tag id>:<group>`,
e.g. `E2:ANAT`, `E2:CONC`. With `keep_types=True` the labels are the type names, one entity per type
(ids `<tag id>:<TUI>`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterator, NamedTuple

from ..corpus import ConversionError, ConversionReport, Entity, Record, excerpt, validate_entity
from .encoding import input_files, offset_problem, read_text, text_codec

SEMANTIC_GROUPS_RESOURCE = "semantic_groups.tsv"
ENTITY_OFFSET_ATTRIBUTES = {"id", "start", "end", "spans", "text", "tag"}
LINK_ATTRIBUTES = {"fromID", "toID"}
NULL_LABELS = {"", "null", "none", "nil"}
# Element names that say "an annotation", not its type: <Entity> must not be read as UMLS type T071 "Entity".
GENERIC_ELEMENTS = {"entity", "entities", "tag", "annotation", "mention", "term", "concept", "span", "extent"}
XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
DECLARED_ENCODING = re.compile(rb"<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
RAW_TEXT = re.compile(r"<TEXT>(.*?)</TEXT>", re.DOTALL)
CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.DOTALL)
ENTITY_DECLARATION = re.compile(r"<!ENTITY\b")
# See encoding.offset_problem; -1 marks a non-consuming tag.
OFFSET = re.compile(r"\s*-?\d+\s*$", re.ASCII)


class SemanticType(NamedTuple):
    """One UMLS semantic type and its semantic group (a row of `data/semantic_groups.tsv`)."""

    tui: str  # "T047"
    abbreviation: str  # "dsyn"
    name: str  # "Disease or Syndrome"
    group: str  # "DISO"
    group_name: str  # "Disorders"
    retired: bool  # a type of an earlier Semantic Network release


def _key(name: str) -> str:
    """Lookup key for a type or group name: case, underscores and runs of spaces do not matter."""
    return " ".join(name.replace("_", " ").split()).casefold()


@lru_cache(maxsize=1)
def semantic_types() -> tuple[SemanticType, ...]:
    """Every semantic type in the shipped NLM SemGroups table (127 current + a few retired ones)."""
    table = resources.files("spacy_clinical_pt") / "data" / SEMANTIC_GROUPS_RESOURCE  # joinpath(a, b) needs 3.11
    rows = []
    lines = [line for line in table.read_text(encoding="utf8").splitlines() if line and not line.startswith("#")]
    header = lines[0].split("\t")
    for line in lines[1:]:
        row = dict(zip(header, line.split("\t")))
        rows.append(
            SemanticType(
                tui=row["tui"],
                abbreviation=row["abbreviation"],
                name=row["type_name"],
                group=row["group"],
                group_name=row["group_name"],
                retired=row["status"] == "retired",
            )
        )
    return tuple(rows)


@lru_cache(maxsize=1)
def semantic_groups() -> dict[str, str]:
    """Group abbreviation -> group name, e.g. {"DISO": "Disorders", ...} (15 groups)."""
    return {t.group: t.group_name for t in semantic_types()}


@lru_cache(maxsize=1)
def _type_index() -> dict[str, SemanticType]:
    index: dict[str, SemanticType] = {}
    for semantic_type in semantic_types():
        for key in (semantic_type.tui, semantic_type.abbreviation, semantic_type.name):
            index[_key(key)] = semantic_type
    return index


@lru_cache(maxsize=1)
def _group_index() -> dict[str, tuple[str, str]]:
    return {_key(key): (abbr, name) for abbr, name in semantic_groups().items() for key in (abbr, name)}


def semantic_type(value: str) -> SemanticType | None:
    """The semantic type written as a TUI ("T047"), an abbreviation ("dsyn") or a name; None if unknown."""
    return _type_index().get(_key(value))


def resolve_label(value: str, keep_types: bool = False) -> tuple[str, str] | None:
    """(label, code) for one value of a `tag` attribute, or None when it is no known type or group.

    value: a semantic type (TUI, abbreviation or name) or, as some exports write, a semantic group
        (abbreviation "DISO" or name "Disorders").
    keep_types: label with the type name (code = TUI) instead of the group name (code = group abbreviation).
    Types come first: "orga" is the abbreviation of Organism Attribute (Physiology), not the group ORGA.
    """
    found = semantic_type(value)
    if found is not None:
        return (found.name, found.tui) if keep_types else (found.group_name, found.group)
    group = _group_index().get(_key(value))
    if group is not None:
        return group[1], group[0]
    return None


@dataclass
class _Tag:
    """One entity tag as read, before its offsets are checked against the text."""

    id: str
    where: str
    fragments: list[tuple[int, int]]
    text: str | None
    labels: list[tuple[str, str]]
    attributes: dict[str, str]


def read_semclinbr(path: Path, report: ConversionReport, *, keep_types: bool = False) -> Iterator[Record]:
    """Records from SemClinBr XML files; doc_id is the file stem.

    path: one XML file, or a folder searched recursively for `*.xml`.
    report: strict mode raises `ConversionError` on the first problem (naming the file and the tag id);
        lenient mode lists what was repaired or dropped and goes on.
    keep_types: label entities with the UMLS type names instead of the semantic group names.
    """
    seen: dict[str, Path] = {}
    for file in input_files(path, (".xml",), report):
        if file.stem in seen:
            report.error(str(file), f"document id {file.stem!r} was already read from {seen[file.stem]}")
            continue
        seen[file.stem] = file
        record = _read_file(file, report, keep_types)
        if record is not None:
            yield record


def _declared_encoding(file: Path) -> str | None:
    """The encoding named by the XML declaration, unless it is UTF-8 (then detection is as good)."""
    try:
        with file.open("rb") as handle:
            head = handle.read(200)
    except OSError:
        return None  # read_text reports why the file cannot be read
    match = DECLARED_ENCODING.search(head)
    if match is None:
        return None
    declared = match.group(1).decode("ascii")
    return None if _key(declared).replace("-", "") in ("utf8", "utf") else declared


def _read_file(file: Path, report: ConversionReport, keep_types: bool) -> Record | None:
    declared = _declared_encoding(file)
    if declared is not None:
        try:
            text_codec(declared)
        except ConversionError as err:
            report.error(str(file), f"its XML declaration names an encoding that cannot be used: {err}")
            return None
    raw = read_text(file, report, encoding=declared)
    if not raw:
        return None
    if declared is not None:
        report.note(f"{file}: decoded as {declared}, the encoding its XML declaration names")
    cdata = raw.find("<![CDATA[")
    # A DTD comes before the root element, so before any CDATA section (whose text may hold anything).
    if ENTITY_DECLARATION.search(raw if cdata < 0 else raw[:cdata]):
        problem = "its DTD declares entities (<!ENTITY>): entity declarations are refused, as entity expansion"
        report.error(str(file), f"{problem} can exhaust memory; SemClinBr files need none")
        return None
    try:
        # The declaration is dropped because the text is already decoded (ElementTree would ignore it).
        root = ET.fromstring(XML_DECLARATION.sub("", raw, count=1))
    except ET.ParseError as err:
        line, column = err.position
        report.error(f"{file} line {line}", f"not well-formed XML at column {column}")
        return None
    text_elements = list(root.iter("TEXT"))
    if not text_elements:
        report.error(str(file), "no <TEXT> element")
        return None
    if len(text_elements) > 1:
        report.error(str(file), f"{len(text_elements)} <TEXT> elements; the offsets cannot be placed")
        return None
    tag_blocks = list(root.iter("TAGS"))
    if not tag_blocks:
        report.error(str(file), "no <TAGS> element")
        return None
    text_element = text_elements[0]
    inside_text = list(text_element.iter())[1:]
    if inside_text:
        names = ", ".join(f"<{name}>" for name in dict.fromkeys(e.tag for e in inside_text))
        report.drop(
            f"{file} <TEXT>",
            f"{len(inside_text)} element(s) inside <TEXT> ({excerpt(names)}) are not read; tags belong in <TAGS>",
        )
    elements = _tag_elements(tag_blocks)
    _report_stray_tags(file, root, {id(e) for e in elements} | {id(e) for e in text_element.iter()}, report)
    tags = _read_tags(file, elements, report, keep_types)
    text = _choose_text(file, raw, "".join(text_element.itertext()), tags, report)
    entities: list[Entity] = []
    for tag in tags:
        if not _check_offsets(tag, text, report):
            continue
        start = min(s for s, _ in tag.fragments)
        end = max(e for _, e in tag.fragments)
        fragments = tuple(tag.fragments) if len(tag.fragments) > 1 else ()
        for label, code in tag.labels:
            entity_id = tag.id if len(tag.labels) == 1 else f"{tag.id}:{code}"
            entities.append(Entity(start, end, label, dict(tag.attributes), fragments, entity_id, tag.where))
    return Record(doc_id=file.stem, text=text, entities=entities, origin=str(file))


def _tag_elements(tag_blocks: list[ET.Element]) -> list[ET.Element]:
    """Every element under the `<TAGS>` blocks, at any depth, in document order, each once."""
    elements: list[ET.Element] = []
    seen: set[int] = set()
    for block in tag_blocks:
        for element in block.iter():  # iterative in ElementTree: deep nesting cannot overflow the stack
            if element.tag != "TAGS" and id(element) not in seen:
                seen.add(id(element))
                elements.append(element)
    return elements


def _report_stray_tags(file: Path, root: ET.Element, read: set[int], report: ConversionReport) -> None:
    """Elements with offsets that are neither under `<TAGS>` nor inside `<TEXT>`: listed as not read."""
    for number, element in enumerate(root.iter(), start=1):
        if id(element) not in read and (element.get("start") is not None or element.get("spans") is not None):
            tag_id = element.get("id") or f"#{number} <{element.tag}>"
            report.drop(f"{file} tag {excerpt(tag_id)}", "a tag outside <TAGS>, not read")


def _read_tags(file: Path, elements: list[ET.Element], report: ConversionReport, keep_types: bool) -> list[_Tag]:
    """The entity tags among `elements`, their types resolved; bad ones reported (strict mode raises)."""
    tags: list[_Tag] = []
    seen_ids: set[str] = set()
    for number, element in enumerate(elements, start=1):
        tag_id = element.get("id") or f"#{number} <{element.tag}>"
        where = f"{file} tag {excerpt(tag_id)}"
        if element.get("start") is None and element.get("spans") is None:
            if LINK_ATTRIBUTES & set(element.attrib):
                report.ignored_lines["link tags"] += 1
            elif len(element) == 0:
                report.drop(where, "no start/end offsets")
            # else an element that groups tags: its children are read on their own
            continue
        if tag_id in seen_ids:
            report.drop(where, "the tag id is used twice in this file")
            continue
        seen_ids.add(tag_id)
        fragments = _fragments(element, where, report)
        if fragments is None:
            continue
        if fragments == [(-1, -1)]:
            report.ignored_lines["non-consuming tags"] += 1
            continue
        labels = _labels(element, where, report, keep_types)
        if not labels:
            continue
        attributes = {k: v for k, v in element.attrib.items() if k not in ENTITY_OFFSET_ATTRIBUTES}
        attributes["element"] = element.tag
        if element.get("tag") is not None:
            attributes["semantic_types"] = element.get("tag", "")
        tags.append(_Tag(tag_id, where, fragments, element.get("text"), labels, attributes))
    return tags


def _fragments(element: ET.Element, where: str, report: ConversionReport) -> list[tuple[int, int]] | None:
    """(start, end) pieces from `start`/`end` or MAE 2 `spans` ("12~20,25~30"); None when unreadable."""
    spans = element.get("spans")
    if spans is not None and not spans.strip():
        return [(-1, -1)]  # MAE 2 writes a non-consuming tag with empty spans
    pieces = (
        [piece.split("~", 1) if "~" in piece else [piece, ""] for piece in spans.split(",")]
        if spans is not None
        else [[element.get("start", ""), element.get("end", "")]]
    )
    fragments = []
    for start, end in pieces:
        shown = f"{excerpt(start.strip())!r}-{excerpt(end.strip())!r}"
        problem = offset_problem((start, end), OFFSET)
        if problem is not None:
            report.drop(where, f"{problem}: {shown}")
            return None
        fragments.append((int(start), int(end)))
    return sorted(fragments)


def _labels(element: ET.Element, where: str, report: ConversionReport, keep_types: bool) -> list[tuple[str, str]]:
    """Distinct (label, code) pairs for the types of one tag, in order; unknown types dropped (reported)."""
    value = element.get("tag")
    if value is None:
        # the element name may be the type itself (<Disease_or_Syndrome>), unless it is a generic one
        generic = element.tag.casefold() in GENERIC_ELEMENTS
        resolved = None if generic else resolve_label(element.tag, keep_types)
        if resolved is None:
            report.drop(where, f"no tag attribute, and <{element.tag}> does not name a UMLS semantic type")
            return []
        return [resolved]
    values = [v.strip() for v in value.split("|")]
    if all(v.casefold() in NULL_LABELS for v in values):
        report.drop(where, f"empty or null label (tag={value!r})")
        return []
    labels: list[tuple[str, str]] = []
    for v in values:
        if v.casefold() in NULL_LABELS:
            report.drop(where, f"empty type in tag={value!r}")
            continue
        resolved = resolve_label(v, keep_types)
        if resolved is None:
            report.drop(where, f"unknown UMLS semantic type {v!r}")
        elif resolved not in labels:
            labels.append(resolved)
    return labels


def _normalize_space(text: str) -> str:
    # XML normalizes whitespace inside attribute values, so `text` is compared with runs of spaces folded.
    return " ".join(text.split())


def _matches(tag: _Tag, text: str) -> bool:
    start, end = tag.fragments[0]
    return (
        tag.text is not None
        and len(tag.fragments) == 1
        and 0 <= start < end <= len(text)
        and _normalize_space(text[start:end]) == _normalize_space(tag.text)
    )


def _choose_text(file: Path, raw: str, parsed: str, tags: list[_Tag], report: ConversionReport) -> str:
    """The note text whose offsets fit: with the file's own line ends, or the parser's "\\n" ones.

    XML parsers turn CRLF into LF, but annotation tools that read the raw file count both characters. The
    raw text is kept unless the `text` attributes match the LF version better.
    """
    match = RAW_TEXT.search(raw)
    if match is None:
        return parsed
    inner = match.group(1)
    cdata = CDATA.search(inner)
    original = inner[: cdata.start()] + cdata.group(1) + inner[cdata.end():] if cdata else inner
    if original == parsed or original.replace("\r\n", "\n").replace("\r", "\n") != parsed:
        return parsed  # no CR in the text, or entities/markup inside TEXT: the parser's text is the one
    if sum(_matches(t, parsed) for t in tags) > sum(_matches(t, original) for t in tags):
        report.note(f"{file}: offsets count each CRLF line end as one character; text read with LF line ends")
        return parsed
    return original


def _check_offsets(tag: _Tag, text: str, report: ConversionReport) -> bool:
    """Offsets inside the text, start before end, and the `text` attribute found there.

    A mismatch is an error in strict mode. In lenient mode the tag is moved to the nearest place where its
    `text` occurs (listed as repaired), or dropped when it occurs nowhere. The `text` of a discontinuous tag
    is not checked (tools join the pieces in different ways).
    """
    label = tag.labels[0][0]
    for start, end in tag.fragments:
        if not validate_entity(Entity(start, end, label, origin=tag.where), text, report):
            return False
    if tag.text is None or len(tag.fragments) > 1 or _matches(tag, text):
        return True
    start, end = tag.fragments[0]
    problem = (
        f"text attribute '{excerpt(tag.text)}' does not match the text at {start}-{end} "
        f"('{excerpt(text, start, end)}')"
    )
    if not report.lenient:
        report.drop(tag.where, problem)
    pattern = re.compile(r"\s+".join(re.escape(word) for word in tag.text.split()))
    found = [m for m in pattern.finditer(text)] if tag.text.strip() else []
    if not found:
        report.drop(tag.where, problem + "; the text occurs nowhere in the note")
        return False
    nearest = min(found, key=lambda m: abs(m.start() - start))
    report.repair(tag.where, f"{problem}; moved to {nearest.start()}-{nearest.end()} where it occurs")
    tag.fragments = [(nearest.start(), nearest.end())]
    return True
