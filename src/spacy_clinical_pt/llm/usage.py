"""What one LLM reply cost: the envelope a model client returns and a task reads (no clinical text in it)."""

from dataclasses import dataclass, field, fields
from typing import Any, Callable, Optional

# doc.user_data key under which the task stores one doc's accounting (`ClinicalNERTask.parse_responses`).
USAGE_KEY = "clinical_pt_llm"


@dataclass
class ChatResponse:
    """One chat-completion reply with its accounting.

    text: the reply's content ("" when the request failed). error: why the request failed after its retries
    (e.g. "timeout after 3 attempts"), else None. Tokens are the provider's `usage` figures, None where unknown
    (no usage sent, or a figure that is not a count); reasoning_tokens are part of completion_tokens, as OpenAI
    counts them. cost_usd: from the configured price table, None when the model has no price or the tokens are
    unknown. cached: served from the local response cache (no request made). cache_error: why a good reply could
    not be stored in the cache, else None. forget_hook: set by a client that cached the reply, to take it out
    again (`forget`); not part of the accounting.
    """

    text: str
    model: str = ""
    latency_s: float = 0.0
    prompt_tokens: Optional[int] = 0
    completion_tokens: Optional[int] = 0
    reasoning_tokens: Optional[int] = 0
    cost_usd: Optional[float] = None
    cached: bool = False
    error: Optional[str] = None
    attempts: int = 1
    cache_error: Optional[str] = None
    forget_hook: Optional[Callable[[], None]] = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:  # spacy-llm's `save_io` stores str(response)
        return self.text

    @property
    def total_tokens(self) -> Optional[int]:
        """prompt + completion tokens; None when either is unknown."""
        if self.prompt_tokens is None or self.completion_tokens is None:
            return None
        return self.prompt_tokens + self.completion_tokens

    def forget(self) -> None:
        """Take this reply out of the client's cache, so that a rerun asks again (a task could not read it)."""
        if self.forget_hook is not None:
            self.forget_hook()

    def accounting(self) -> dict[str, Any]:
        """Everything but the text (and the cache hook): safe to log and to store beside a doc."""
        data = {item.name: getattr(self, item.name) for item in fields(self)
                if item.name not in ("text", "forget_hook")}
        data["total_tokens"] = self.total_tokens
        return data
