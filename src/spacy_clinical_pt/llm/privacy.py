"""What of a note may reach a log or a results file from the LLM pipeline: an excerpt, at most.

Two sources would otherwise carry whole notes there:
- provider error messages, which can quote the prompt (and the key): `provider_message` keeps an excerpt of
  `corpus.EXCERPT_CHARS` characters after replacing every piece of the prompt or the key it quotes;
- spacy-llm's logger ("spacy_llm"), which logs every prompt and reply whole at DEBUG level, `save_io` or not:
  `guard_spacy_llm_logger` puts a filter on it that withholds the text arguments of its records.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable

from ..corpus import excerpt

# A quoted piece of the prompt at least this long is replaced; shorter ones are common words of any message.
QUOTE_CHARS = 12
# The longest provider message read (the rest is cut before the search for quotes, which is quadratic in it).
MESSAGE_CHARS = 2000
PROMPT_MARK = "[prompt text]"
KEY_MARK = "[key]"
SPACY_LLM_LOGGER = "spacy_llm"


def _fold(text: str) -> str:
    """`text` in lower case, character by character (a character whose lower case is longer is kept), so that
    offsets into it are offsets into `text`."""
    return "".join(char if len(char.lower()) != 1 else char.lower() for char in text)


def redact(message: str, prompt_texts: Iterable[str], secrets: Iterable[str] = ()) -> str:
    """`message` on one line with each piece of `prompt_texts` (QUOTE_CHARS characters or more, whitespace and case
    ignored) replaced by PROMPT_MARK and each secret by KEY_MARK.

    message: a provider's error message. prompt_texts: the contents of the messages sent. secrets: the API key.
    """
    for secret in secrets:  # before the cut, which could leave the head of a key that straddles it
        if secret:
            message = message.replace(secret, KEY_MARK)
    message = " ".join(message[:MESSAGE_CHARS].split())
    sources = "\x00".join(_fold(" ".join(text.split())) for text in prompt_texts)
    folded = _fold(message)
    pieces, start = [], 0
    while start < len(message):
        length = QUOTE_CHARS
        # A quote starts at a word character or a sign, not at a space: "could not process [prompt text]".
        if not message[start].isspace() and start + length <= len(message) and folded[start:start + length] in sources:
            while start + length < len(message) and folded[start:start + length + 1] in sources:
                length += 1
            if pieces[-1:] != [PROMPT_MARK]:  # two quotes in a row (two messages) are one mark
                pieces.append(PROMPT_MARK)
            start += length
        else:
            pieces.append(message[start])
            start += 1
    return "".join(pieces)


def provider_message(message: Any, prompt_texts: Iterable[str], secrets: Iterable[str] = ()) -> str:
    """A provider's error message as an error may carry it: redacted (see `redact`), then cut to an excerpt."""
    if not isinstance(message, str) or not message.strip():
        return ""
    return excerpt(redact(message, prompt_texts, secrets))


class WithheldText(logging.Filter):
    """Withholds the text in a record's arguments: a string becomes "<N characters withheld>", any other object
    but a number "<TYPE withheld>"; a record without arguments is cut to an excerpt. Numbers pass, so counts in
    a record ("Found %d docs in cache") still read."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, dict):
            record.args = {key: _withheld(value) for key, value in record.args.items()}
        elif record.args:
            record.args = tuple(_withheld(value) for value in record.args)
        else:
            record.msg = excerpt(str(record.msg))
        return True


def _withheld(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return f"<{len(value)} characters withheld>"
    return f"<{type(value).__name__} withheld>"


def guard_spacy_llm_logger() -> None:
    """Put a `WithheldText` filter on spacy-llm's logger, once per process (a logger's filters see the records
    logged through it; spacy-llm logs through this one logger only)."""
    spacy_llm_logger = logging.getLogger(SPACY_LLM_LOGGER)
    if not any(isinstance(existing, WithheldText) for existing in spacy_llm_logger.filters):
        spacy_llm_logger.addFilter(WithheldText())
