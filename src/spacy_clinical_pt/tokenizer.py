"""Clinical tokenizer rules for Portuguese, and how well gold entities align with the tokens.

An entity whose offsets do not fall on token boundaries cannot be a `Span`: training either moves it
(`build_docs(alignment="expand"|"contract")`) or loses it. spaCy's Portuguese tokenizer is written for
edited prose; clinical notes glue things together (`850mg`, `-hidroclorotiazida`, `K:4,8`,
`CAPTOPRIL(2 CP)`, `DISPNEIA.NEGA`, `RE-/RP-/Her2+`). The rules here split those, and leave alone what
must stay whole: decimals (`1,5`, `3.5`), dates and dose schedules (`10/05/2018`, `12/12`), times
(`12:30`), hyphenated words (`pós-operatório`, `CKD-EPI`) and alphanumeric codes that start with a
letter (`HbA1c`, `B12`, `pT2N0`).

Three ways to use them:
- `clinical_nlp()`: `spacy.blank("pt")` with the rules, the default `nlp` of the converters;
- `[nlp.tokenizer] @tokenizers = "spacy_clinical_pt.ClinicalTokenizer.v1"` in a training config;
- `[nlp.after_creation] @callbacks = "spacy_clinical_pt.clinical_tokenizer_rules.v1"`.
The rules are regular expressions and tokenizer exceptions, which spaCy saves with the pipeline, so a
saved pipeline tokenizes the same way when loaded.

`alignment_rate` measures the share of gold entities whose offsets fall on token boundaries; the
benchmark `benchmarks/alignment.py` and the real-corpus tests share it.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, NamedTuple

import spacy
from spacy.lang.char_classes import ALPHA, ALPHA_UPPER
from spacy.lang.tokenizer_exceptions import emoticons
from spacy.language import Language
from spacy.tokenizer import Tokenizer
from spacy.util import compile_infix_regex, compile_prefix_regex, compile_suffix_regex, registry

from .corpus import ConversionReport, Record, excerpt, trim_whitespace, validate_entity

_A = ALPHA  # letters of every script spaCy knows, accented ones included (not º/ª, which mark ordinals)
_AU = ALPHA_UPPER
_AN = f"{ALPHA}0-9"

# Portuguese keeps a hyphenated run of word characters as one infix match, `(\w+-\w+(-\w+)*)`, so that
# "pós-operatório" stays whole. With `\w` it also swallows "20-1xd" (dose 20, once a day) and every
# other rule inside it. The same protection restricted to letters keeps hyphenated words whole and lets
# numbers be split.
PT_HYPHENATED_WORD = r"(\w+-\w+(-\w+)*)"
LETTER_HYPHENATED_WORD = rf"([{_A}]+-[{_A}]+(-[{_A}]+)*)"

CLINICAL_PREFIXES = [
    rf"-+(?=[{_A}])",  # list dashes glued to the item: "-hidroclorotiazida", "--LAB"
    rf"\.(?=[{_A}])",  # a sentence glued to the previous one: ").Valva aórtica"
    r"[/;|]",  # separators glued to the next word: "/ALIMENTAÇÃO", "|Cardiomiopatia"
]

CLINICAL_SUFFIXES = [
    # A single capital before a full stop: "grau I.", "vitamina D." (dotted acronyms "S.O.S." stay whole).
    rf"(?<=[{_AU}])(?<!\.[{_AU}])\.",
    rf"(?<=[{_AN}])-+",  # trailing hyphens: "25 mg- 1 cp", receptor status "RE-"
    r"\++",  # receptor status and cross grading: "RE+", "Her2+", "3+"
    r"[/;|]",  # separators glued to the previous word: "SANGRAMENTOS./", "d;"
]

CLINICAL_INFIXES = [
    r"[;|()\[\]{}]",  # never part of a clinical word: "d;Marevan", "2|Cardio", "CAPTOPRIL(2"
    r"\+",  # "HAS+DM", "2+/4+", "PSAP 25mmHg+pVC"
    r"(?<![0-9])/|/(?![0-9])",  # "/" splits unless between digits (dates 10/05/2018, schedules 12/12)
    rf"(?<![{_AN}])-|-(?![{_AN}])",  # a hyphen not inside a word: "RE-/RP-"
    rf"(?<=[{_A}]):(?=[0-9])",  # "K:4,8", "FC:92" (times like 12:30 stay whole)
    rf"(?<=[{_AN}])[=<>](?=[0-9])",  # "PA=120x80", "PCR<5"
    rf"(?<=[{_A}]),(?=[0-9])|(?<=[0-9]),(?=[{_A}])",  # "200MG,1/2 CP" (decimals 1,5 stay whole)
    rf"(?<=[{_A}]{{2}})\.(?=[{_A}])",  # "DISPNEIA.NEGA" (abbreviations like "p.ex." stay whole)
    rf"(?<=[0-9])\.(?=[{_AU}])",  # numbered items: "1.Paciente" (decimals 3.5 stay whole)
    r"(?<=[0-9])[xX](?=[0-9])",  # dimensions and blood pressure: "130x90mmHg", "3x4cm"
    rf"(?<=[0-9])(?=[{_A}])",  # a number glued to its unit or frequency: "850mg", "12h", "1xd", "20UI"
]

# Alphanumeric codes that start with a letter are names, not number + unit: "HbA1c", "B12", "Her2",
# "pT2N0", "CA125". Matching them whole stops the number-unit rule from splitting them.
CLINICAL_TOKEN_MATCH = rf"[{_A}]+[0-9]+[{_AN}]*$"


def _removed_exception(orth: str) -> bool:
    """Tokenizer exceptions that hide clinical boundaries.

    Emoticons such as "):", ":1" or "8)" glue punctuation to notes' parentheses and values; a single
    letter with a full stop ("d.", "e.") is the end of a sentence ("50 mg/d.", "hepatite e.") far more
    often than an abbreviation in clinical notes.
    """
    return orth in emoticons or (len(orth) == 2 and orth[1] == "." and orth[0].isalpha())


def _clinical_patterns(defaults: type) -> tuple[str, str, str, str]:
    """The prefix, suffix and infix regexes and the token_match pattern for a language's `Defaults`."""
    prefixes = CLINICAL_PREFIXES + list(defaults.prefixes or [])
    suffixes = CLINICAL_SUFFIXES + list(defaults.suffixes or [])
    infixes = [LETTER_HYPHENATED_WORD if p == PT_HYPHENATED_WORD else p for p in defaults.infixes or []]
    # Language infixes first: the hyphenated-word match must win at the start of "pós-operatório".
    infixes = infixes + CLINICAL_INFIXES
    token_match = CLINICAL_TOKEN_MATCH
    if defaults.token_match is not None:
        token_match = f"(?:{CLINICAL_TOKEN_MATCH})|(?:{defaults.token_match.__self__.pattern})"
    return (
        compile_prefix_regex(prefixes).pattern,
        compile_suffix_regex(suffixes).pattern,
        compile_infix_regex(infixes).pattern,
        token_match,
    )


def _apply_rules(tokenizer: Tokenizer, defaults: type) -> Tokenizer:
    """Set the clinical rules on `tokenizer` in place, from the language defaults (so applying twice is safe)."""
    prefix, suffix, infix, token_match = _clinical_patterns(defaults)
    tokenizer.prefix_search = re.compile(prefix).search
    tokenizer.suffix_search = re.compile(suffix).search
    tokenizer.infix_finditer = re.compile(infix).finditer
    tokenizer.token_match = re.compile(token_match).match
    # Assigning `rules` also flushes the tokenizer's cache, so the new regexes take effect at once.
    tokenizer.rules = {orth: value for orth, value in tokenizer.rules.items() if not _removed_exception(orth)}
    return tokenizer


def clinical_tokenizer_rules(nlp: Language) -> Language:
    """Add the clinical rules to `nlp.tokenizer` in place and return `nlp`.

    nlp: a pipeline whose tokenizer is spaCy's rule-based `Tokenizer` (any language; the rules were
        written for Portuguese).
    """
    if not isinstance(nlp.tokenizer, Tokenizer):
        raise TypeError(
            f"clinical tokenizer rules need spaCy's rule-based Tokenizer, not {type(nlp.tokenizer).__name__}"
        )
    _apply_rules(nlp.tokenizer, nlp.Defaults)
    return nlp


@registry.callbacks("spacy_clinical_pt.clinical_tokenizer_rules.v1")
def create_clinical_tokenizer_rules() -> Callable[[Language], Language]:
    """The clinical rules as a config callback, e.g. `[nlp.after_creation] @callbacks = ...`."""
    return clinical_tokenizer_rules


@registry.tokenizers("spacy_clinical_pt.ClinicalTokenizer.v1")
def create_clinical_tokenizer() -> Callable[[Language], Tokenizer]:
    """The language's default tokenizer with the clinical rules: `[nlp.tokenizer] @tokenizers = ...`."""

    def make_clinical_tokenizer(nlp: Language) -> Tokenizer:
        tokenizer = registry.tokenizers.get("spacy.Tokenizer.v1")()(nlp)
        return _apply_rules(tokenizer, nlp.Defaults)

    return make_clinical_tokenizer


def clinical_nlp(lang: str = "pt") -> Language:
    """`spacy.blank(lang)` with the clinical tokenizer rules (the converters' default `nlp`)."""
    return clinical_tokenizer_rules(spacy.blank(lang))


class Misalignment(NamedTuple):
    """A gold entity (or fragment) whose offsets are not on token boundaries.

    doc_id, label, start, end: where it is. shown: a short excerpt with the entity in [brackets];
    tokens: the tokens that cover it, separated by "|", so the boundary that is missing is visible.
    """

    doc_id: str
    label: str
    start: int
    end: int
    shown: str
    tokens: str


class AlignmentRate(NamedTuple):
    """How many gold entities align exactly with the tokens: `aligned` of `total`, and the misses."""

    aligned: int
    total: int
    misses: list[Misalignment]

    @property
    def percent(self) -> float:
        return 100.0 * self.aligned / self.total if self.total else 100.0


CONTEXT_CHARS = 12  # characters of context on each side of a misaligned entity


def alignment_rate(nlp: Language, records: Iterable[Record]) -> AlignmentRate:
    """Count the gold entities whose offsets fall exactly on `nlp`'s token boundaries.

    The fragments of a discontinuous entity count separately (each must align for `fragments` mode, and
    the covering span of `covering` mode begins and ends at fragment ends). Offsets are trimmed of
    whitespace first, as `build_docs` does; entities with a null label, invalid offsets or only whitespace
    are not counted (the converters report them).
    nlp: supplies the tokenizer. records: the documents, e.g. from `convert.read_records`.
    """
    aligned = total = 0
    misses: list[Misalignment] = []
    invalid = ConversionReport(lenient=True)  # the converters report invalid entities; here they are skipped
    for record in records:
        doc = nlp.make_doc(record.text)
        for entity in record.entities:
            if not validate_entity(entity, record.text, invalid):
                continue
            for start, end in entity.fragments or ((entity.start, entity.end),):
                start, end = trim_whitespace(record.text, start, end)
                if start == end:
                    continue
                total += 1
                if doc.char_span(start, end, alignment_mode="strict") is not None:
                    aligned += 1
                    continue
                covering = doc.char_span(start, end, alignment_mode="expand")
                left = record.text[max(0, start - CONTEXT_CHARS) : start]
                right = record.text[end : end + CONTEXT_CHARS]
                shown = f"...{excerpt(left)}[{excerpt(record.text, start, end)}]{excerpt(right)}..."
                tokens = "|".join(excerpt(token.text) for token in covering) if covering is not None else ""
                misses.append(Misalignment(record.doc_id, str(entity.label), start, end, shown, tokens))
    return AlignmentRate(aligned, total, misses)
