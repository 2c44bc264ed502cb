"""Windows over long notes that never overflow the encoder's wordpiece budget.

spacy-transformers cuts every `Doc` into spans ("windows") before the transformer sees it. Its
`spacy-transformers.strided_spans.v1` counts spaCy tokens, but clinical text has many wordpieces per token
(abbreviations, doses, codes, misspellings, Portuguese accents in an English vocabulary), so token windows long
enough to give the paper's 512-wordpiece context on ordinary prose overflow it on dense passages.
spacy-transformers then silently drops the wordpieces past the model's `model_max_length`
(`truncate_oversize_splits`), and the tokens at the end of the window get no vector from it.
The paper's own code truncates whole notes at 512 subwords and never sees 18 of the 982 NestedClinBr test entities.

`spacy_clinical_pt.wordpiece_budget_spans.v1` keeps spaCy's strided windows (at most `window` tokens, a new
window every `stride` tokens, so windows overlap and every token is in at least one) and shrinks any window
whose wordpieces would exceed `max_wordpieces`.

How the getter knows the wordpiece counts (spacy-transformers calls it with docs only):
- bound to its transformer (the `spacy_clinical_pt.TransformerModel.v1` architecture of `configs/transformer.cfg`
  calls `bind(model)`): it counts **exactly** with the tokenizer the transformer itself uses, the one saved inside
  the pipeline, so a packaged pipeline counts exactly on a machine without the Hugging Face hub or cache.
- otherwise, `tokenizer` set to the encoder's name or local path (the transformer config passes
  `${components.transformer.model.name}`): the getter loads that Hugging Face tokenizer once per process and
  counts **exactly**: every candidate window's text is tokenized and the window shrinks until it fits.
- `tokenizer` unset, or the tokenizer cannot be loaded (an offline machine without the Hugging Face cache, e.g. a
  packaged pipeline installed elsewhere): a guaranteed upper bound, the UTF-8 bytes of the window's text plus one.
  Every wordpiece of the WordPiece, byte-level BPE and SentencePiece tokenizers used here covers at least one byte
  of input (plus one leading SentencePiece marker), so the bound is never exceeded, at the price of smaller
  windows (NestedClinBr test notes, budget 510, MiniLM's tokenizer: 98 tokens per window on average against 190
  with exact counts). A warning says when this fallback is used.

A single spaCy token with more wordpieces than the budget cannot be split by a span getter: it gets a window of
its own, a warning names its character offset, and the transformer truncates that window (keep the tokenizer's
`model_max_length` set, as `configs/transformer.cfg` does, so the truncation happens and the token still gets the
vectors of its first wordpieces).
"""

from __future__ import annotations

import bisect
import logging
from functools import lru_cache
from typing import Callable, Iterable, List, Optional

from spacy.tokens import Doc, Span
from spacy_transformers.util import registry

logger = logging.getLogger(__name__)

SpanGetter = Callable[[Iterable[Doc]], List[List[Span]]]
# A SentencePiece tokenizer may add one leading marker ("▁") that covers no byte of the text.
BYTE_BOUND_MARGIN = 1


@registry.span_getters("spacy_clinical_pt.wordpiece_budget_spans.v1")
def configure_wordpiece_budget_spans(
    window: int = 128,
    stride: int = 96,
    max_wordpieces: int = 510,
    tokenizer: Optional[str] = None,
) -> SpanGetter:
    """Configure strided windows that respect a wordpiece budget.

    window: the most spaCy tokens in one window.
    stride: how many tokens the next window starts after the current one (stride < window makes windows overlap).
    max_wordpieces: the most wordpieces in one window, special tokens ([CLS], [SEP], <bos>...) NOT included:
        510 for a 512-position encoder.
    tokenizer: the Hugging Face name or local path of the encoder's tokenizer, for exact counts; None for the
        UTF-8 byte bound (see the module docstring).
    RETURNS: a function mapping a batch of docs to one list of windows (`Span`s) per doc.
    """
    return WordpieceBudgetSpans(window=window, stride=stride, max_wordpieces=max_wordpieces, tokenizer=tokenizer)


@lru_cache(maxsize=8)
def _load_tokenizer(name: str):
    """The fast Hugging Face tokenizer `name` (hub name or local path), loaded once per process."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name, use_fast=True)


class WordpieceBudgetSpans:
    """The configured span getter: `getter(docs) -> List[List[Span]]` (see `configure_wordpiece_budget_spans`)."""

    def __init__(self, window: int, stride: int, max_wordpieces: int, tokenizer: Optional[str] = None):
        if window < 1 or stride < 1 or stride > window:
            raise ValueError(
                f"wordpiece_budget_spans: need 1 <= stride <= window, got window={window}, stride={stride}"
            )
        if max_wordpieces < 1:
            raise ValueError(f"wordpiece_budget_spans: max_wordpieces must be positive, got {max_wordpieces}")
        self.window = window
        self.stride = stride
        self.max_wordpieces = max_wordpieces
        self.tokenizer_name = tokenizer
        self._tokenizer = None
        self._tokenizer_failed = False
        self._model = None

    def bind(self, model) -> None:
        """Count with `model.tokenizer` (a spacy-transformers `TransformerModel`) once the model has one."""
        self._model = model

    def __getstate__(self) -> dict:
        # Pickled alone (without its model) it loads the tokenizer again by name in the other process.
        return {**self.__dict__, "_tokenizer": None, "_model": None}

    @property
    def tokenizer(self):
        """The Hugging Face tokenizer used for exact counts, or None when counting by the byte bound."""
        bound = getattr(self._model, "tokenizer", None) if self._model is not None else None
        if bound is not None:
            return bound
        if self._tokenizer is None and self.tokenizer_name and not self._tokenizer_failed:
            try:
                self._tokenizer = _load_tokenizer(str(self.tokenizer_name))
            except (OSError, ValueError) as error:
                # Still never overflow: the byte bound holds for every tokenizer, windows are only smaller.
                self._tokenizer_failed = True
                logger.warning(
                    "wordpiece_budget_spans: cannot load tokenizer %r (%s); windows are sized by the UTF-8 byte "
                    "bound instead (smaller windows, never truncated)",
                    self.tokenizer_name,
                    type(error).__name__,
                )
        return self._tokenizer

    def __call__(self, docs: Iterable[Doc]) -> List[List[Span]]:
        return [self.doc_windows(doc) for doc in docs]

    def doc_windows(self, doc: Doc) -> List[Span]:
        """The windows of one doc, in order; together they cover every token."""
        n_tokens = len(doc)
        if n_tokens == 0:
            return []
        tokenizer = self.tokenizer
        # cumulative[i] = estimated wordpieces of tokens [0, i); exact counts are checked per window below.
        cumulative = [0]
        for count in self._token_counts(doc, tokenizer):
            cumulative.append(cumulative[-1] + count)
        windows: List[Span] = []
        start = 0
        while True:
            end = min(start + self.window, n_tokens)
            # The longest prefix whose estimate fits; at least one token, so that every token is covered.
            budget_end = bisect.bisect_right(cumulative, cumulative[start] + self.max_wordpieces) - 1
            end = max(start + 1, min(end, budget_end))
            while end > start + 1 and self._count(doc[start:end], tokenizer) > self.max_wordpieces:
                end -= 1
            if end == start + 1 and self._count(doc[start:end], tokenizer) > self.max_wordpieces:
                self._warn_oversize_token(doc[start], tokenizer)
            windows.append(doc[start:end])
            if end >= n_tokens:
                return windows
            # Advance in proportion to the window actually used: overlap as with spaCy's strided spans, never a gap.
            start += max(1, (end - start) * self.stride // self.window)

    def _token_counts(self, doc: Doc, tokenizer) -> List[int]:
        """Per spaCy token, its wordpieces in the tokenization of the whole text (exact) or its bytes (bound).

        Wordpieces over the whitespace between tokens count for the following token. The sum over a window can
        differ by a piece or two from tokenizing the window alone (first-word prefixes), hence the exact check.
        """
        if tokenizer is None:
            return [len(token.text_with_ws.encode("utf8")) for token in doc]
        # verbose=False: the whole note is longer than the model's limit on purpose; it is never fed to the model.
        offsets = tokenizer(doc.text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)[
            "offset_mapping"
        ]
        token_starts = [token.idx for token in doc]
        counts = [0] * len(doc)
        for start, end in offsets:
            # The token that holds the piece's last character, or the next one for a piece over whitespace.
            index = bisect.bisect_right(token_starts, max(start, end - 1)) - 1
            if index >= 0 and max(start, end - 1) >= doc[index].idx + len(doc[index].text):
                index += 1
            counts[min(max(index, 0), len(doc) - 1)] += 1
        return counts

    def _count(self, span: Span, tokenizer) -> int:
        """The wordpieces of the window's text, special tokens excluded (exact, or the byte bound)."""
        if tokenizer is None:
            return len(span.text.encode("utf8")) + BYTE_BOUND_MARGIN
        return len(tokenizer(span.text, add_special_tokens=False, verbose=False)["input_ids"])

    def _warn_oversize_token(self, token, tokenizer) -> None:
        kind = "splits into" if tokenizer is not None else "may split into up to"
        logger.warning(
            "wordpiece_budget_spans: the token at character offset %d (%d characters) %s %d wordpieces, more "
            "than the budget of %d; it gets a window of its own and the transformer truncates that window",
            token.idx,
            len(token.text),
            kind,
            self._count(token.doc[token.i : token.i + 1], tokenizer),
            self.max_wordpieces,
        )
