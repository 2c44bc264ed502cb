"""Sentence boundaries for ConText scopes, without a parser.

Clinical notes end a statement with a line break as often as with a full stop ("- Enalapril 20 mg\\r\\n- AAS"),
so a line break ends a sentence, and so do ".", "?", "!" and ";". A full stop after an abbreviation does not:
never after a title ("Dr.", "Sra."), and after a unit or a short form ("mg.", "p.ex.") only when the next
word starts with a capital letter. Decimals ("1.5") are single tokens and never split. The boundaries are
kept here, not in `token.is_sent_start`, so that a parser or a sentencizer later in the pipeline is not
contradicted.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import Optional

from spacy.tokens import Doc

SENTENCE_END = frozenset(".?!;")
BREAKS = re.compile(r"[.?!;\r\n]")

# A full stop after these never ends a sentence: a name follows.
TITLES = frozenset({"dr", "dra", "sr", "sra", "srta", "prof", "profa", "sto", "sta", "exmo", "exma"})

# A full stop after these ends a sentence only before a capital letter.
ABBREVIATIONS = frozenset(
    {
        "mg", "mcg", "g", "kg", "ml", "l", "cp", "cps", "comp", "amp", "gts", "gt", "ui", "un", "cm", "mm",
        "min", "seg", "h", "hr", "hs", "aprox", "ex", "p.ex", "obs", "ref", "pág", "pag", "etc", "vs",
        "nº", "n", "no", "tel", "cx", "fr", "vo", "ev", "iv", "im", "sc", "sl",
    }
)


def sentence_bounds(doc: Doc, text: Optional[str] = None, starts: Optional[list[int]] = None) -> list[tuple[int, int]]:
    """The sentences of a doc as token ranges.

    doc (Doc): The document.
    text (Optional[str]): `doc.text`, when the caller has it already.
    starts (Optional[list[int]]): The start character of each token (`doc.to_array("IDX")`), likewise.
    RETURNS (list[tuple[int, int]]): (start, end) token offsets, end exclusive, covering the doc in order.
    """
    text = doc.text if text is None else text
    starts = doc.to_array("IDX").tolist() if starts is None else starts
    # Only the tokens that hold a stop or a line break can end a sentence: found in the text, not token by token.
    candidates = sorted({bisect_right(starts, m.start()) - 1 for m in BREAKS.finditer(text)})
    bounds = []
    start = 0
    for i in candidates:
        if i + 1 < len(doc) and _ends_sentence(doc, i):
            bounds.append((start, i + 1))
            start = i + 1
    if start < len(doc):
        bounds.append((start, len(doc)))
    return bounds


def sentence_ids(doc: Doc, bounds: list[tuple[int, int]]) -> list[int]:
    """The index of each token's sentence.

    doc (Doc): The document.
    bounds (list[tuple[int, int]]): Its sentences, from `sentence_bounds`.
    RETURNS (list[int]): One sentence index per token.
    """
    ids = [0] * len(doc)
    for s, (start, end) in enumerate(bounds):
        ids[start:end] = [s] * (end - start)
    return ids


def _ends_sentence(doc: Doc, i: int) -> bool:
    """Whether a sentence ends after token `i`: a line break, or a stop that does not end an abbreviation."""
    text = doc[i].text
    if text.isspace():
        return "\n" in text or "\r" in text
    if any(c not in SENTENCE_END for c in text):
        return False
    if text != "." or i == 0:
        return True
    previous = doc[i - 1]
    if previous.whitespace_:  # "20 mg . Nega": a stand-alone full stop ends the sentence
        return True
    before = previous.text.lower()
    if before in TITLES:
        return False
    if before in ABBREVIATIONS:
        following = _next_word(doc, i + 1)
        return following is None or following[:1].isupper() or not following[:1].isalpha()
    return True


def _next_word(doc: Doc, i: int) -> Optional[str]:
    """The first token text from `i` that is not a space (a line break counts as a word), or None."""
    for token in doc[i:]:
        if not token.is_space or "\n" in token.text:
            return token.text
    return None
