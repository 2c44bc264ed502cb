"""What one LLM reply cost: the envelope a model client returns and a task reads (no clinical text in it)."""

from dataclasses import asdict, dataclass
from typing import Any, Optional

# doc.user_data key under which the task stores one doc's accounting (`ClinicalNERTask.parse_responses`).
USAGE_KEY = "clinical_pt_llm"


@dataclass
class ChatResponse:
    """One chat-completion reply with its accounting.

    text: the reply's content ("" when the request failed). error: why the request failed after its retries
    (e.g. "timeout after 3 attempts"), else None. Tokens are the provider's `usage` figures (0 when absent);
    reasoning_tokens are part of completion_tokens, as OpenAI counts them. cost_usd: from the configured price
    table, None when the model has no price. cached: served from the local response cache (no request made).
    """

    text: str
    model: str = ""
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: Optional[float] = None
    cached: bool = False
    error: Optional[str] = None
    attempts: int = 1

    def __str__(self) -> str:  # spacy-llm's `save_io` stores str(response)
        return self.text

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def accounting(self) -> dict[str, Any]:
        """Everything but the text: safe to log and to store beside a doc."""
        data = asdict(self)
        del data["text"]
        data["total_tokens"] = self.total_tokens
        return data
