"""Cues found in a doc and their scopes: the matching half of ConText.

Literal cues are matched on the tokens lower-cased with accents removed ("AUSENCIA DE" matches "ausência
de"), and so are patterns of fixed words; other pattern cues by spaCy's `Matcher` on the doc itself. Of overlapping cues, a PSEUDO cue cancels the
ones it applies to, then the longest cue wins (as medspaCy prunes overlapping modifiers). A cue's scope runs
in its direction to the end of its sentence or `max_scope` tokens, and stops at the nearest cue of the same
category (the nearest cue wins) or at a terminator that applies to its category.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc
from spacy.vocab import Vocab

from .rules import PSEUDO, TERMINATE, ContextRule
from .sections import fold


@dataclass(eq=False)
class Cue:
    """A cue found in a doc: its tokens, its rule and the token ranges it modifies.

    start (int): The cue's first token.
    end (int): The token after the cue.
    rule (ContextRule): The rule that matched.
    sentence (int): The index of the cue's sentence.
    scopes (list[tuple[int, int]]): The (start, end) token ranges of its scope.
    """

    start: int
    end: int
    rule: ContextRule
    sentence: int
    scopes: list

    @property
    def category(self) -> str:
        """The rule's category."""
        return self.rule.category

    def in_scope(self, token: int) -> bool:
        """Whether a token is in one of the cue's scopes."""
        return any(start <= token < end for start, end in self.scopes)


class CueMatcher:
    """Finds the cues of a rule set in docs. Built once; each doc costs one pass of two matchers.

    vocab (Vocab): The pipeline's vocab, for the pattern matcher.
    tokenize (callable): The pipeline's tokenizer, to split literal cues as the docs are split.
    rules (Iterable[ContextRule]): The rules.
    max_scope (Optional[int]): The scope of rules that give none; None: the sentence.
    """

    def __init__(self, vocab: Vocab, tokenize, rules: Iterable[ContextRule], max_scope: Optional[int] = None):
        self.rules = list(rules)
        self.max_scope = max_scope
        self._folded_vocab = Vocab()  # folded words stay out of the pipeline's strings
        self._phrases = PhraseMatcher(self._folded_vocab, attr="ORTH")
        self._patterns = Matcher(vocab)
        self._keys: dict[int, int] = {}  # match id -> rule index
        for index, rule in enumerate(self.rules):
            key = f"context_rule_{index}"
            phrases = _as_phrases(rule.pattern) if rule.pattern is not None else None
            if phrases is not None:
                self._phrases.add(key, [Doc(self._folded_vocab, words=words) for words in phrases])
                self._keys[self._folded_vocab.strings[key]] = index
            elif rule.pattern is not None:
                try:
                    self._patterns.add(key, [rule.pattern])
                except ValueError as err:
                    raise ValueError(f"rule {index} ({rule.literal!r}): invalid pattern ({err})") from None
                self._keys[vocab.strings[key]] = index
            else:
                words = [fold(t.text) for t in tokenize(rule.literal) if not t.is_space]
                self._phrases.add(key, [Doc(self._folded_vocab, words=words)])
                self._keys[self._folded_vocab.strings[key]] = index
        self._fold_cache: dict[str, str] = {}

    def __call__(self, doc: Doc, sentences: list[tuple[int, int]], sentence_of: list[int]) -> list[Cue]:
        """The cues of a doc, overlaps resolved, with their scopes.

        doc (Doc): The document.
        sentences (list[tuple[int, int]]): Its sentences as token ranges.
        sentence_of (list[int]): The sentence index of each token.
        RETURNS (list[Cue]): The cues in text order.
        """
        if not self.rules or not len(doc):
            return []
        matches = self._phrases(self._folded(doc)) if len(self._phrases) else []
        if len(self._patterns):
            matches += self._patterns(doc)
        found = [(start, end, self.rules[self._keys[match_id]]) for match_id, start, end in matches]
        found = [(s, e, r) for s, e, r in found if sentence_of[s] == sentence_of[e - 1]]
        cues = [Cue(s, e, r, sentence_of[s], []) for s, e, r in _resolve_overlaps(found)]
        for cue in cues:
            cue.scopes = [self._scope(cue, sentences[cue.sentence])]
        _limit_scopes(cues)
        return cues

    def _folded(self, doc: Doc) -> Doc:
        """A doc of the same tokens lower-cased without accents, for the literal cues."""
        words = []
        for token in doc:
            folded = self._fold_cache.get(token.text)
            if folded is None:
                folded = fold(token.text) or token.text
                if len(self._fold_cache) < 100_000:
                    self._fold_cache[token.text] = folded
            words.append(folded)
        return Doc(self._folded_vocab, words=words)

    def _scope(self, cue: Cue, sentence: tuple[int, int]) -> tuple[int, int]:
        """The cue's scope in its sentence before other cues limit it."""
        direction = cue.rule.direction
        reach = cue.rule.max_scope or self.max_scope
        start, end = sentence
        if direction in ("FORWARD", "BIDIRECTIONAL"):
            end = min(end, cue.end + reach) if reach else end
        else:
            end = cue.start
        if direction in ("BACKWARD", "BIDIRECTIONAL"):
            start = max(start, cue.start - reach) if reach else start
        else:
            start = cue.end
        return (start, end)


MAX_PATTERN_PHRASES = 5000


def _as_phrases(pattern: list) -> Optional[list[list[str]]]:
    """The folded word sequences a pattern of fixed words matches, or None when it needs the `Matcher`.

    A pattern whose tokens are only `LOWER` (a word or `IN` a list), `ORTH` without letters, and `OP` "?"
    runs as phrases: the `Matcher` costs about as much per doc as the whole phrase matcher does. Folding
    also lets it ignore accents, as literal cues do.
    """
    sequences: list[list[str]] = [[]]
    for token in pattern:
        keys = set(token) - {"OP"}
        op = token.get("OP")
        if len(keys) != 1 or op not in (None, "?"):
            return None
        (attr,) = keys
        value = token[attr]
        words = value.get("IN") if isinstance(value, dict) and set(value) == {"IN"} else [value]
        if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words):
            return None
        if attr == "ORTH" and any(c.isalpha() for w in words for c in w):
            return None
        if attr not in ("LOWER", "ORTH"):
            return None
        folded = list(dict.fromkeys(fold(w) for w in words))
        sequences = [seq + [w] for seq in sequences for w in folded] + (sequences if op == "?" else [])
        if len(sequences) > MAX_PATTERN_PHRASES:
            return None
    sequences = [seq for seq in sequences if seq]
    return sequences or None


def _applies(rule: ContextRule, category: str) -> bool:
    """Whether a TERMINATE or PSEUDO rule acts on cues of `category`."""
    return rule.category in (TERMINATE, PSEUDO) or rule.category == category


def _resolve_overlaps(found: list) -> list:
    """Matches without the pseudo-cues and the cues they cancel, the longest of overlapping matches kept.

    found (list): (start, end, rule) matches.
    RETURNS (list): The kept (start, end, rule), in text order; identical spans of two rules are both kept.
    """
    pseudos = [(s, e, r) for s, e, r in found if r.direction == PSEUDO]
    # A pseudo-cue only cancels: it does not take part in the longest-wins pruning, where "mãe nega" (a
    # family pseudo-cue) would otherwise remove the negation "nega".
    found = [
        (s, e, r)
        for s, e, r in found
        if r.direction != PSEUDO and not any(ps < e and s < pe and _applies(pr, r.category) for ps, pe, pr in pseudos)
    ]
    kept: list = []
    taken: dict[int, tuple[int, int]] = {}  # token -> the kept span covering it
    for s, e, r in sorted(found, key=lambda m: (m[0] - m[1], m[0])):
        spans = {taken[t] for t in range(s, e) if t in taken}
        if not spans or spans == {(s, e)}:
            kept.append((s, e, r))
            taken.update((t, (s, e)) for t in range(s, e))
    return sorted(kept, key=lambda m: (m[0], m[1]))


def _limits(cue: Cue, other: Cue) -> bool:
    """Whether `other` ends the scope of `cue`: a terminator of its category, or a cue of the same category."""
    if other.rule.direction == TERMINATE:
        return _applies(other.rule, cue.category)
    if other.category in cue.rule.terminated_by:
        return True
    # Cues of one category for different target types do not limit each other, as in medspaCy.
    return (
        other.category == cue.category
        and other.rule.allowed_types == cue.rule.allowed_types
        and other.rule.excluded_types == cue.rule.excluded_types
    )


def _limit_scopes(cues: list[Cue]) -> None:
    """Cut each cue's scope at the nearest limiting cue on each side, within its sentence."""
    by_sentence: dict[int, list[Cue]] = {}
    for cue in cues:
        by_sentence.setdefault(cue.sentence, []).append(cue)
    for group in by_sentence.values():
        for k, cue in enumerate(group):
            if cue.rule.direction == TERMINATE:
                cue.scopes = []
                continue
            start, end = cue.scopes[0]
            for other in group[k + 1 :]:
                if other.start >= cue.end and _limits(cue, other):
                    end = min(end, other.start)
                    break
            for other in reversed(group[:k]):
                if other.end <= cue.start and _limits(cue, other):
                    start = max(start, other.end)
                    break
            cue.scopes = [(start, end)] if start < end else []
