"""The `clinical_context` component: ConText assertion for Portuguese clinical entities.

Added after the NER (or on `spacy.blank("pt")` with spans set by hand), it reads the spans of
`doc.spans[spans_key]` (and `doc.ents` with `use_ents`) and sets medspaCy's extensions on each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Optional, Union

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import ensure_path

from .cues import Cue, CueMatcher
from .rules import (
    CATEGORY_ATTRIBUTES,
    FAMILY,
    HISTORICAL,
    HYPOTHETICAL,
    NEGATED,
    POSSIBLE,
    ContextRule,
    load_rules,
    rules_from_json,
    rules_to_json,
)
from .sections import find_sections, fold, key_span
from .sentences import sentence_bounds, sentence_ids

ASSERTIONS = ("present", "absent", "possible", "hypothetical", "historical", "family")

# The category that decides `span._.assertion` when several apply, the first that applies winning.
PRECEDENCE = (
    (FAMILY, "family"),
    (NEGATED, "absent"),
    (HYPOTHETICAL, "hypothetical"),
    (POSSIBLE, "possible"),
    (HISTORICAL, "historical"),
)

# Plain values, stored in doc.user_data: what DocBin, `Doc.from_docs` and `nlp.pipe(n_process=...)` can carry (a
# Span cannot be), so the cue is kept as its token offsets and `span._.assertion_cue` is a getter over them.
EXTENSIONS = {
    **{attr: False for attr in CATEGORY_ATTRIBUTES.values()},
    "assertion": "present",
    "assertion_cue_tokens": None,
}


def _assertion_cue(span: Span) -> Optional[Span]:
    """The cue (or section header) that decided `span._.assertion`, from `span._.assertion_cue_tokens`."""
    bounds = span._.assertion_cue_tokens
    return None if bounds is None else span.doc[int(bounds[0]) : int(bounds[1])]

DEFAULT_CONFIG = {
    "spans_key": "sc",
    "use_ents": False,
    "rules": "default",
    "extra_rules": None,
    "max_scope": None,
    "sections": True,
}


def register_extensions() -> None:
    """Register the span extensions of `EXTENSIONS` that are not registered yet.

    One registered already (by an earlier import, or medspaCy's `is_negated`) is kept as it is.
    """
    for name, default in EXTENSIONS.items():
        if not Span.has_extension(name):
            Span.set_extension(name, default=default)
    if not Span.has_extension("assertion_cue"):
        Span.set_extension("assertion_cue", getter=_assertion_cue)


@Language.factory(
    "clinical_context",
    default_config=DEFAULT_CONFIG,
    assigns=[f"span._.{name}" for name in (*EXTENSIONS, "assertion_cue")],
)
def make_clinical_context(
    nlp: Language,
    name: str,
    spans_key: str,
    use_ents: bool,
    rules: str,
    extra_rules: Optional[str],
    max_scope: Optional[int],
    sections: bool,
) -> "ClinicalContext":
    """Create a `ClinicalContext` from the config of the `clinical_context` factory."""
    return ClinicalContext(
        nlp,
        name,
        spans_key=spans_key,
        use_ents=use_ents,
        rules=rules,
        extra_rules=extra_rules,
        max_scope=max_scope,
        sections=sections,
    )


class ClinicalContext:
    """Assertion status of clinical entities by ConText (Harkema et al. 2009), as medspaCy implements it.

    Cue rules (`rules.py`, medspaCy's JSON schema) are matched in the doc; a cue modifies the targets in
    its scope (`cues.py`), a span being in scope when its first or last token is and it does not overlap
    the cue. Sentences come from `sentences.py` (line breaks, ".", "?", "!", ";", abbreviations known), so
    no parser is needed. With `sections`, a known section header sets the category of its section
    ("ANTECEDENTES FAMILIARES:" -> family), and a "key: value" line whose value is a cue gives the cue to
    the key ("ALERGIAS: nenhuma conhecida", "febre: nega").

    Each span gets `is_negated`, `is_uncertain`, `is_historical`, `is_hypothetical`, `is_family` (every
    category that applies) and `assertion`, the first that applies in the order family > absent >
    hypothetical > possible > historical, else "present": a relative's denied disease is about the
    relative; a denial outranks doubt and time ("nega história de asma" is absent); a condition under "se"
    has not happened; a possible finding is not yet history. `assertion_cue` is the cue (or section header)
    of the winning category, the nearest one, or None.

    nlp (Language): The pipeline, whose vocab the pattern cues use.
    name (str): The component's name.
    spans_key (str): The spans group to annotate.
    use_ents (bool): Whether to annotate `doc.ents` too.
    rules (Union[str, list]): "default" (the package's Portuguese rules), a path to a medspaCy rule file,
        or a list of `ContextRule`.
    extra_rules (Optional[str]): A path to a medspaCy rule file added to `rules`.
    max_scope (Optional[int]): The scope in tokens of rules that set none; None: the sentence.
    sections (bool): Whether section headers and "key: value" lines set categories.
    """

    def __init__(
        self,
        nlp: Language,
        name: str = "clinical_context",
        *,
        spans_key: str = "sc",
        use_ents: bool = False,
        rules: Union[str, list] = "default",
        extra_rules: Optional[str] = None,
        max_scope: Optional[int] = None,
        sections: bool = True,
    ):
        if max_scope is not None and (isinstance(max_scope, bool) or not isinstance(max_scope, int) or max_scope <= 0):
            raise ValueError(f"clinical_context: max_scope must be a positive integer or null, not {max_scope!r}")
        register_extensions()
        self.name = name
        self.spans_key = spans_key
        self.use_ents = use_ents
        self.max_scope = max_scope
        self.sections = sections
        self._vocab = nlp.vocab
        loaded = list(rules) if isinstance(rules, list) else load_rules(rules)
        if extra_rules:
            loaded += load_rules(extra_rules)
        self._set_rules(loaded)

    @property
    def rules(self) -> list[ContextRule]:
        """The rules in use, in order."""
        return list(self._matcher.rules)

    def add_rules(self, rules: Iterable[ContextRule]) -> None:
        """Add rules to those in use; the matchers are rebuilt once."""
        self._set_rules(self.rules + list(rules))

    def _set_rules(self, rules: list[ContextRule]) -> None:
        self._matcher = CueMatcher(self._vocab, rules, self.max_scope)

    def __call__(self, doc: Doc) -> Doc:
        """Set the assertion extensions on the doc's target spans.

        doc (Doc): The document, its spans in `doc.spans[spans_key]` (and `doc.ents` with `use_ents`).
        RETURNS (Doc): The same doc.
        """
        targets = list(doc.spans[self.spans_key]) if self.spans_key in doc.spans else []
        if self.use_ents:
            targets += list(doc.ents)
        if not targets:
            return doc
        text = doc.text
        starts = doc.to_array("IDX").tolist()
        bounds = sentence_bounds(doc, text, starts)
        sentence_of = sentence_ids(doc, bounds)
        cues = self._matcher(doc, bounds, sentence_of, text, starts)
        section_cues = self._layout_cues(doc, cues, bounds, sentence_of, text, starts) if self.sections else []
        by_sentence: dict[int, list[Cue]] = {}
        for cue in cues:  # under each sentence its scopes reach (a key on the line before its value)
            for s in dict.fromkeys(sentence_of[i] for start, end in cue.scopes for i in (start, end - 1)):
                by_sentence.setdefault(s, []).append(cue)
        edges = []  # (target index, cue)
        for index, target in enumerate(targets):
            first, last = sentence_of[target.start], sentence_of[target.end - 1]
            near = by_sentence.get(first, [])
            if last != first:  # a cue under both sentences counts once
                near = list(dict.fromkeys(near + by_sentence.get(last, [])))
            near = near + section_cues if section_cues else near
            if near:  # most targets have no cue near: their label and text are never read
                label = target.label_.upper()
                edges += [(index, cue) for cue in near if _modifies(cue, target, label)]
        modifiers: dict[int, list[Cue]] = {}
        for index, cue in _limit_targets(edges, targets):
            modifiers.setdefault(index, []).append(cue)
        plain = _plain_extensions()
        for index, target in enumerate(targets):
            _annotate(target, modifiers.get(index), plain)
        return doc

    def _layout_cues(
        self, doc: Doc, cues: list[Cue], bounds: list, sentence_of: list[int], text: str, starts: list[int]
    ) -> list[Cue]:
        """Extra scopes for "key: value" cues, and one cue per categorized section (its header)."""
        for cue in cues:
            if cue.rule.direction not in ("TERMINATE", "PSEUDO") and cue.start > 0:
                key = key_span(doc, cue.start, cue.end, bounds[cue.sentence])
                if key is not None:
                    cue.scopes.append(key)
        found = []
        for section in find_sections(doc, text, starts):
            if section.category is not None and section.header_end + 1 < section.end:
                header = ContextRule(literal=doc[section.header_start : section.header_end].text, category=section.category)
                scope = (section.header_end + 1, section.end)
                found.append(Cue(section.header_start, section.header_end, header, sentence_of[section.header_start], [scope]))
        return found

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = ()) -> None:
        """Save the rules in use (medspaCy's schema) and the settings, so a loaded pipeline needs no rule file."""
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "context_rules.json").write_text(json.dumps(rules_to_json(self.rules), ensure_ascii=False, indent=1), encoding="utf-8")

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = ()) -> "ClinicalContext":
        """Load the rules saved by `to_disk`."""
        path = ensure_path(path) / "context_rules.json"
        if path.exists():
            self._set_rules(rules_from_json(json.loads(path.read_text(encoding="utf-8")), str(path)))
        return self

    def to_bytes(self, *, exclude: Iterable[str] = ()) -> bytes:
        """The rules in use as JSON bytes."""
        return json.dumps(rules_to_json(self.rules), ensure_ascii=False).encode("utf-8")

    def from_bytes(self, data: bytes, *, exclude: Iterable[str] = ()) -> "ClinicalContext":
        """Load the rules of `to_bytes`."""
        self._set_rules(rules_from_json(json.loads(data.decode("utf-8")), "<bytes>"))
        return self


def _modifies(cue: Cue, target: Span, label: str) -> bool:
    """Whether a cue modifies a target, its label upper-cased `label`: it allows its label and covers an edge
    of it, or it overlaps it from the side it reads ("Nenhum sinal de hipoperfusão", the target "sinal de
    hipoperfusão": the FORWARD cue "nenhum sinal de" starts before it).

    An allergy is never historical: an allergy listed under "ANTECEDENTES PESSOAIS:" or after "história
    de" is an allergy the patient has.
    """
    if cue.start < target.end and target.start < cue.end:
        direction = cue.rule.direction
        forward = direction in ("FORWARD", "BIDIRECTIONAL") and cue.start < target.start < cue.end < target.end
        backward = direction in ("BACKWARD", "BIDIRECTIONAL") and target.start < cue.start < target.end < cue.end
        if not (forward or backward) or cue.category == HISTORICAL and _is_allergy(target):
            return False
        return _allows(cue.rule, label)
    if cue.category == HISTORICAL and _is_allergy(target):
        return False
    return _allows(cue.rule, label) and (cue.in_scope(target.start) or cue.in_scope(target.end - 1))


def _allows(rule: ContextRule, label: str) -> bool:
    """Whether a rule's `allowed_types` and `excluded_types` let it modify a target labelled `label`."""
    if rule.allowed_types is not None and label not in rule.allowed_types:
        return False
    return rule.excluded_types is None or label not in rule.excluded_types


def _is_allergy(target: Span) -> bool:
    """Whether a target is an allergy: by its label ("Alergias medicamentosas") or its words ("alergia a AAS")."""
    return "alerg" in fold(target.label_) or "alerg" in fold(target.text)


def _distance(cue: Cue, target: Span) -> int:
    """Tokens between a cue and a target."""
    return max(cue.start - target.end, target.start - cue.end, 0)


def _limit_targets(edges: list, targets: list[Span]) -> list:
    """Keep, for cues with `max_targets`, only their nearest targets."""
    by_cue: dict[int, list] = {}
    for index, cue in edges:
        if cue.rule.max_targets is not None:
            by_cue.setdefault(id(cue), []).append((index, cue))
    dropped = set()
    for group in by_cue.values():
        group.sort(key=lambda edge: _distance(edge[1], targets[edge[0]]))
        dropped.update((index, id(cue)) for index, cue in group[group[0][1].rule.max_targets :])
    return [(index, cue) for index, cue in edges if (index, id(cue)) not in dropped]


def _annotate(target: Span, cues: Optional[list[Cue]], plain: bool) -> None:
    """Set a target's extensions from the cues that modify it (None: none); `plain`: the extensions are plain values."""
    values = _values(target, cues) if cues else EXTENSIONS  # the defaults: what no cue changes
    if plain:
        # What `span._.name = value` does for an extension with a default, without an accessor per value:
        # spaCy keys a span's values in `doc.user_data` by ("._.", name, start_char, end_char).
        start, end = target.start_char, target.end_char
        target.doc.user_data.update({("._.", name, start, end): value for name, value in values.items()})
    else:
        extensions = target._
        for name, value in values.items():
            setattr(extensions, name, value)


def _values(target: Span, cues: list[Cue]) -> dict:
    """The extensions' values of a target from the cues that modify it."""
    nearest: dict[str, Cue] = {}
    for cue in sorted(cues, key=lambda c: _distance(c, target)):
        nearest.setdefault(cue.category, cue)
    values = {attr: category in nearest for category, attr in CATEGORY_ATTRIBUTES.items()}
    values["assertion"], values["assertion_cue_tokens"] = "present", None
    if FAMILY in nearest and NEGATED in nearest and nearest[NEGATED].in_scope(nearest[FAMILY].start):
        # "Nega história familiar de câncer": the denial is of the family history itself.
        del nearest[FAMILY]
    for category, assertion in PRECEDENCE:
        if category in nearest:
            cue = nearest[category]
            values["assertion"], values["assertion_cue_tokens"] = assertion, (cue.start, cue.end)
            break
    return values


def _plain_extensions() -> bool:
    """Whether every extension of `EXTENSIONS` is a plain value (a default, no getter, setter or method)."""
    return all(Span.get_extension(name)[1:] == (None, None, None) for name in EXTENSIONS)
