"""Cues found in a doc and their scopes: the matching half of ConText.

Literal cues are matched on the text lower-cased with accents removed ("AUSENCIA DE" matches "ausência
de"), and so are patterns of fixed words; other pattern cues by spaCy's `Matcher` on the doc itself. Of
overlapping cues, a PSEUDO cue cancels the ones it applies to, then the longest cue wins (as medspaCy
prunes overlapping modifiers). A cue's scope runs in its direction to the end of its sentence or
`max_scope` tokens, and stops at the nearest cue of the same category (the nearest cue wins) or at a
terminator that applies to its category.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from itertools import islice
from typing import Iterable, Optional

from spacy.lang.pt.lex_attrs import like_num
from spacy.matcher import Matcher
from spacy.tokens import Doc
from spacy.vocab import Vocab

from .rules import PSEUDO, TERMINATE, ContextRule
from .sections import fold

# The words of folded text and cues: a number with its decimals, a word, or one other character ("?", "(").
WORDS = re.compile(r"\d+(?:[.,]\d+)*|\w+|[^\w\s]")
NUMBER = "<number>"  # a pattern token {"LIKE_NUM": true}: any word that looks like a number
YEAR = "<year>"  # a pattern token {"SHAPE": "dddd"}: four digits ("em 2019")


def _is_year(word: str) -> bool:
    """Whether a folded word has the shape "dddd"."""
    return len(word) == 4 and word.isdigit()


# The word classes a phrase may hold, with the test a word must pass to take their branch of the trie.
WORD_CLASSES = {NUMBER: like_num, YEAR: _is_year}

# Lower case without accents, one character for one so that offsets stay those of the text. A string indexed by
# code point translates twice as fast as a dict; `str.translate` keeps a character past its end (an IndexError).
FOLD_TABLE = "".join(f if len(f := fold(chr(c))) == 1 else chr(c) for c in range(0x250))


def fold_text(text: str) -> str:
    """`fold` of a whole text, its length kept: "Ausência" -> "ausencia"."""
    return text.translate(FOLD_TABLE)


def words_of(text: str) -> list[str]:
    """The words of a text as `WORDS` splits it."""
    return WORDS.findall(text)


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
    """Finds the cues of a rule set in docs. Built once; a doc costs one regex pass over its folded text.

    Literal cues and patterns of fixed words become folded word sequences ("nao ha"), looked up from each
    place where a sequence's first word occurs (one regex, a trie of the first words, finds them); a
    match counts when it starts and ends at token boundaries. Other patterns run in spaCy's `Matcher` on the doc itself.

    vocab (Vocab): The pipeline's vocab, for the pattern matcher.
    rules (Iterable[ContextRule]): The rules.
    max_scope (Optional[int]): The scope of rules that give none; None: the sentence.
    """

    def __init__(self, vocab: Vocab, rules: Iterable[ContextRule], max_scope: Optional[int] = None):
        self.rules = list(rules)
        self.max_scope = max_scope
        self._phrases: dict[tuple, list[int]] = {}  # folded words -> rule indices
        self._patterns = Matcher(vocab)
        self._keys: dict[int, int] = {}  # pattern match id -> rule index
        for index, rule in enumerate(self.rules):
            phrases = _as_phrases(rule.pattern) if rule.pattern is not None else [words_of(fold(rule.literal))]
            if phrases is not None:
                for words in phrases:
                    self._phrases.setdefault(tuple(words), []).append(index)
                continue
            key = f"context_rule_{index}"
            try:
                self._patterns.add(key, [rule.pattern])
            except ValueError as err:
                raise ValueError(f"rule {index} ({rule.literal!r}): invalid pattern ({err})") from None
            self._keys[vocab.strings[key]] = index
        self._trie = _phrase_trie(self._phrases)
        self._longest = max(map(len, self._phrases), default=0)
        self._classes = [(name, test) for name, test in WORD_CLASSES.items() if any(name in w for w in self._phrases)]
        self._firsts = re.compile(_first_words_regex({words[0] for words in self._phrases}))

    def __call__(
        self,
        doc: Doc,
        sentences: list[tuple[int, int]],
        sentence_of: list[int],
        text: Optional[str] = None,
        starts: Optional[list[int]] = None,
    ) -> list[Cue]:
        """The cues of a doc, overlaps resolved, with their scopes.

        doc (Doc): The document.
        sentences (list[tuple[int, int]]): Its sentences as token ranges.
        sentence_of (list[int]): The sentence index of each token.
        text (Optional[str]): `doc.text`, when the caller has it already.
        starts (Optional[list[int]]): The start character of each token (`doc.to_array("IDX")`), likewise.
        RETURNS (list[Cue]): The cues in text order.
        """
        if not self.rules or not len(doc):
            return []
        text = doc.text if text is None else text
        starts = doc.to_array("IDX").tolist() if starts is None else starts
        found = self._phrase_matches(doc, text, starts) if self._phrases else []
        if len(self._patterns):
            found += [(start, end, self.rules[self._keys[key]]) for key, start, end in self._patterns(doc)]
        found = [(s, e, r) for s, e, r in found if sentence_of[s] == sentence_of[e - 1]]
        cues = [Cue(s, e, r, sentence_of[s], []) for s, e, r in _resolve_overlaps(found)]
        for cue in cues:
            cue.scopes = [self._scope(cue, sentences[cue.sentence])]
        _limit_scopes(cues)
        return cues

    def _phrase_matches(self, doc: Doc, text: str, starts: list[int]) -> list:
        """(start, end, rule) token matches of the word sequences in the doc's folded text."""
        folded = fold_text(text)
        found = []
        rules, root, longest, classes, words = self.rules, self._trie, self._longest, self._classes, WORDS.finditer
        for first in self._firsts.finditer(folded):
            begin = first.start()
            nodes = [root]  # the trie nodes of the words read so far: a word and <number> may both go on
            for m in islice(words(folded, begin), longest):
                word = m.group()
                grown = [child for children, _ in nodes if (child := children.get(word)) is not None]
                for name, test in classes:  # a word class tested only where a pattern wants one here
                    grown += [
                        child for children, _ in nodes if (child := children.get(name)) is not None and test(word)
                    ]
                nodes = grown
                if not nodes:
                    break
                indices = [i for _, ends in nodes for i in ends]
                if indices:
                    span = _token_span(doc, starts, begin, m.end())
                    if span is not None:
                        found += [(span[0], span[1], rules[i]) for i in indices]
        return found

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


def _phrase_trie(phrases: dict[tuple, list[int]]) -> tuple[dict, list[int]]:
    """The word sequences as a trie: a node is (children by word, the rule indices of the sequence ending there)."""
    root: tuple[dict, list[int]] = ({}, [])
    for words, indices in phrases.items():
        node = root
        for word in words:
            node = node[0].setdefault(word, ({}, []))
        node[1].extend(indices)
    return root


def _first_words_regex(words: set[str]) -> str:
    """A regex that finds any of `words` as a whole word, fast: a trie of the words that start with a word
    character between word boundaries, or one of the others (single characters, as `WORDS` splits them)."""
    trie: dict = {}
    for word in words:
        if word[:1].isalnum() or word[:1] == "_":
            node = trie
            for char in word:
                node = node.setdefault(char, {})
            node[""] = {}  # the end of a word

    def pattern(node: dict) -> str:
        branches = sorted(re.escape(c) + pattern(child) for c, child in node.items() if c)
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    others = sorted(w for w in words if not (w[:1].isalnum() or w[:1] == "_"))
    alternatives = ([rf"\b{pattern(trie)}\b"] if trie else []) + [re.escape(w) for w in others]
    return "|".join(alternatives) or r"(?!x)x"


def _token_span(doc: Doc, starts: list[int], start: int, end: int) -> Optional[tuple[int, int]]:
    """The tokens of the characters `start:end`, or None when they do not start and end at token boundaries."""
    first = bisect_right(starts, start) - 1
    last = bisect_right(starts, end - 1) - 1
    if first < 0 or starts[first] != start or starts[last] + len(doc[last]) != end:
        return None
    return first, last + 1


def _as_phrases(pattern: list) -> Optional[list[list[str]]]:
    """The folded word sequences a pattern of fixed words matches, or None when it needs the `Matcher`.

    A pattern whose tokens are only `LOWER` (a word or `IN` a list), `ORTH` without letters, `LIKE_NUM` or
    `SHAPE` "dddd" after the first token, and `OP` "?" runs as word sequences: the `Matcher` costs more per doc than all
    the literal cues together. Folding also lets it ignore accents, as literal cues do.
    """
    sequences: list[list[str]] = [[]]
    for position, token in enumerate(pattern):
        keys = set(token) - {"OP"}
        op = token.get("OP")
        if len(keys) != 1 or op not in (None, "?"):
            return None
        (attr,) = keys
        value = token[attr]
        if attr == "LIKE_NUM" and value is True and position > 0:
            words = [NUMBER]
        elif attr == "SHAPE" and value == "dddd" and position > 0:
            words = [YEAR]
        else:
            words = value.get("IN") if isinstance(value, dict) and set(value) == {"IN"} else [value]
            if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words):
                return None
            if attr == "ORTH" and any(c.isalpha() for w in words for c in w):
                return None
            if attr not in ("LOWER", "ORTH"):
                return None
        folded = list(dict.fromkeys(w if w in WORD_CLASSES else tuple(words_of(fold(w))) for w in words))
        sequences = [seq + ([w] if w in WORD_CLASSES else list(w)) for seq in sequences for w in folded] + (
            sequences if op == "?" else []
        )
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
