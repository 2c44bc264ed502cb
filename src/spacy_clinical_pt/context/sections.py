"""Clinical layout for ConText: section headers and "key: value" lines.

A section header is a line that starts with a few words and a colon ("ANTECEDENTES FAMILIARES:", "HDA:").
A known header sets the category of the targets of its section ("ANTECEDENTES FAMILIARES:" -> FAMILY,
"HISTÓRIA PREGRESSA:" -> HISTORICAL); any other header, known or written in capitals ("EXAME FÍSICO:",
"PA:"), ends the section before it and sets nothing. Headers are matched ignoring case and accents.

A "key: value" line whose value is only a cue ("ALERGIAS: nenhuma conhecida", "febre: nega",
"Tabagismo: nega.") gives the cue to the targets of the key: `key_span` finds the key before the colon.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from typing import NamedTuple, Optional

from spacy.tokens import Doc

from .rules import FAMILY, HISTORICAL

# Folded header text (lower case, no accents, single spaces) -> the category of its section.
SECTION_CATEGORIES: dict[str, Optional[str]] = {
    **dict.fromkeys(
        (
            "antecedentes familiares", "antecedente familiar", "historia familiar", "historico familiar",
            "historia familiar pregressa", "antecedentes familiares patologicos", "hf", "af", "hfam",
        ),
        FAMILY,
    ),
    **dict.fromkeys(
        (
            "historia pregressa", "historia patologica pregressa", "historia medica pregressa", "hpp", "hmp",
            "antecedentes pessoais", "antecedentes pessoais patologicos", "antecedentes patologicos",
            "antecedentes medicos", "antecedentes", "app", "ap", "antecedentes cirurgicos", "cirurgias previas",
            "internacoes previas", "historia previa",
        ),
        HISTORICAL,
    ),
    **dict.fromkeys(
        (
            "hda", "hma", "qp", "qd", "queixa principal", "queixa", "historia da doenca atual",
            "historia da molestia atual", "exame fisico", "ef", "exame objetivo", "alergias", "alergia",
            "medicacoes", "medicacoes em uso", "medicamentos", "medicamentos em uso", "mue", "conduta", "plano",
            "hipotese diagnostica", "hipoteses diagnosticas", "hd", "diagnostico", "diagnosticos", "impressao",
            "evolucao", "exames", "exames complementares", "laboratorio", "habitos", "habitos de vida", "isda",
            "interrogatorio sistematico", "prescricao", "avaliacao", "subjetivo", "objetivo", "comorbidades",
            "identificacao", "id", "observacoes", "obs", "resumo", "discussao", "tratamento",
        ),
        None,
    ),
}

COLONS = re.compile(":")
MAX_HEADER_TOKENS = 5  # words before the colon of a header
MAX_KEY_TOKENS = 8  # tokens of the key of a "key: value" line
BULLETS = frozenset({"-", "*", "•", "#", "–"})  # what may start the line of a value

# Words that may follow a cue in the value of a "key: value" line: "nenhuma conhecida", "nega até o momento".
VALUE_FILLERS = frozenset(
    {
        "conhecida", "conhecidas", "conhecido", "conhecidos", "referida", "referidas", "referido", "referidos",
        "relatada", "relatadas", "relatado", "relatados", "ate", "o", "momento", "no", "de", "nada",
        "mencionada", "mencionadas", "mencionado", "mencionados", "registada", "registadas", "registrada",
        "registradas", "documentada", "documentadas",
    }
)


class Section(NamedTuple):
    """A section: its header (colon excluded), the tokens it covers, its category (None: sets nothing)."""

    header_start: int
    header_end: int
    end: int
    category: Optional[str]


def fold(text: str) -> str:
    """Lower case without accents: "Ausência" -> "ausencia"."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def find_sections(doc: Doc, text: Optional[str] = None, starts: Optional[list[int]] = None) -> list[Section]:
    """The sections of a doc, in order; text before the first header is in none.

    doc (Doc): The document.
    text (Optional[str]): `doc.text`, when the caller has it already.
    starts (Optional[list[int]]): The start character of each token (`doc.to_array("IDX")`), likewise.
    RETURNS (list[Section]): Each header with the tokens up to the next header.
    """
    text = doc.text if text is None else text
    starts = doc.to_array("IDX").tolist() if starts is None else starts
    headers = []  # (start, colon, category)
    taken_line = -1  # the line start of the last colon considered: one header per line
    for match in COLONS.finditer(text):
        i = bisect_right(starts, match.start()) - 1
        if doc[i].text != ":":
            continue
        newline = text.rfind("\n", 0, match.start())
        line_start = 0 if newline < 0 else bisect_right(starts, newline)  # the token after the line break's
        if line_start == taken_line or not 0 < i - line_start <= MAX_HEADER_TOKENS:
            continue
        taken_line = line_start
        words = doc[line_start:i]
        if not any(t.is_space or t.is_punct for t in words):
            key = fold(" ".join(t.text for t in words))
            if key in SECTION_CATEGORIES or _capitals(words.text):
                headers.append((line_start, i, SECTION_CATEGORIES.get(key)))
    sections = []
    for k, (start, colon, category) in enumerate(headers):
        end = headers[k + 1][0] if k + 1 < len(headers) else len(doc)
        sections.append(Section(start, colon, end, category))
    return sections


def _capitals(text: str) -> bool:
    """Whether the text has two letters or more, all capitals ("EXAME FÍSICO", "PA")."""
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def key_span(doc: Doc, cue_start: int, cue_end: int, sentence: tuple[int, int]) -> Optional[tuple[int, int]]:
    """The key of a "key: value" line whose value is the cue `doc[cue_start:cue_end]`, or None.

    The value may start the next line, after a bullet ("ALERGIAS:\n- Nenhumas conhecidas"): the key is
    then the line before, ending in a colon.

    doc (Doc): The document.
    cue_start (int): The cue's first token; the token before it (bullets aside) must be a colon.
    cue_end (int): The token after the cue.
    sentence (tuple[int, int]): The (start, end) of the cue's sentence.
    RETURNS (Optional[tuple[int, int]]): The key's (start, end) tokens, end at the colon.
    """
    colon = cue_start - 1
    while colon >= sentence[0] and doc[colon].text in BULLETS:
        colon -= 1
    lower = sentence[0]
    if colon < sentence[0]:  # the value starts its line: the key may be the line before
        lower = 0
        while colon >= 0 and doc[colon].is_space:
            colon -= 1
    if colon <= lower or doc[colon].text != ":":
        return None
    for token in doc[cue_end : sentence[1]]:
        if not (token.is_punct or token.is_space or fold(token.text) in VALUE_FILLERS):
            return None
    start = colon
    while start > lower and colon - start < MAX_KEY_TOKENS:
        previous = doc[start - 1]
        if previous.is_space or previous.text in {",", ";", ":", "."}:
            break
        start -= 1
    return (start, colon) if start < colon else None
