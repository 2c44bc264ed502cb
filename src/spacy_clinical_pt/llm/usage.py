"""What LLM replies cost: the envelope a model client returns and a task reads (no clinical text in it), and the
totals and means of a run (the `usage` section of an llm-baseline metrics.json, the paper's Table 4 figures)."""

import logging
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Mapping, Optional, Sequence

logger = logging.getLogger(__name__)

# doc.user_data key under which the task stores one doc's accounting (`ClinicalNERTask.parse_responses`).
USAGE_KEY = "clinical_pt_llm"
# A token figure above this is a broken server, not a reply (no model reads or writes a billion tokens at once).
MAX_TOKENS = 1_000_000_000
TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "reasoning_tokens", "total_tokens")


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


def _mean(total: float, n: int) -> Optional[float]:
    return total / n if n else None


def usage_summary(rows: Sequence[Mapping[str, Any]], priced: bool) -> dict[str, Any]:
    """Totals and means of per-doc accounting rows (`ChatResponse.accounting()`, empty for a doc never sent).

    Means are over successful replies (no `error`: a failed request has no tokens worth averaging); those of tokens
    and cost over the replies whose figure is known (`unknown_usage`: replies with a token figure the provider did
    not give as a count). priced: whether the model has prices in its config. cost_usd: at those prices (None
    without prices, or when no reply's cost is known: `unknown_cost` counts the replies without one);
    cost_usd_paid: only the replies requested in this run (not cached).
    """
    requests = [row for row in rows if row]
    replies = [row for row in requests if not row.get("error")]
    fresh = [row for row in replies if not row.get("cached")]
    known = {name: [int(row[name]) for row in replies if row.get(name) is not None] for name in TOKEN_FIELDS}
    time_total = sum(float(row.get("latency_s") or 0.0) for row in replies)
    costs = [float(row["cost_usd"]) for row in replies if row.get("cost_usd") is not None]
    # With prices, a cost is known when some reply has one, or when there is no reply to price (nothing spent).
    costed = priced and (bool(costs) or not replies)
    summary: dict[str, Any] = {
        "requests": len(requests),
        "responses": len(replies),
        "request_errors": len(requests) - len(replies),
        "cached_responses": sum(1 for row in replies if row.get("cached")),
        "unknown_usage": sum(1 for row in replies if any(row.get(name) is None for name in TOKEN_FIELDS)),
        "cache_errors": sum(1 for row in requests if row.get("cache_error")),
        "attempts": sum(int(row.get("attempts") or 0) for row in requests),
        "total_time_s": time_total,
        "mean_time_s": _mean(time_total, len(replies)),
    }
    for name in TOKEN_FIELDS:
        summary[f"mean_{name}"] = _mean(sum(known[name]), len(known[name]))
    for name in TOKEN_FIELDS:
        summary[name if name == "total_tokens" else f"total_{name}"] = sum(known[name])
    summary.update(
        unknown_cost=len(replies) - len(costs) if priced else None,
        cost_usd=sum(costs) if costed else None,
        cost_usd_paid=sum(float(row["cost_usd"]) for row in fresh if row.get("cost_usd") is not None)
        if costed else None,
        cost_per_1000_responses_usd=_mean(sum(costs) * 1000, len(costs)) if costed else None,
    )
    return summary


def usage_figures(usage: Any) -> tuple[Optional[int], Optional[int], Optional[int]]:
    """(prompt, completion, reasoning) tokens of a reply's `usage`; None where unknown.

    No `usage`: all unknown. No `completion_tokens_details` (or no reasoning_tokens in it): no reasoning tokens.
    """
    if usage is None:
        return None, None, None
    if not isinstance(usage, dict):
        logger.warning("LLM reply usage is not an object: its tokens are recorded as unknown")
        return None, None, None
    prompt = token_count(usage, "prompt_tokens", "usage.prompt_tokens")
    completion = token_count(usage, "completion_tokens", "usage.completion_tokens")
    details = usage.get("completion_tokens_details")
    if details is None:
        return prompt, completion, 0
    if not isinstance(details, dict):
        logger.warning("LLM reply usage.completion_tokens_details is not an object: reasoning tokens recorded as "
                       "unknown")
        return prompt, completion, None
    reasoning = token_count(details, "reasoning_tokens", "usage.completion_tokens_details.reasoning_tokens")
    return prompt, completion, 0 if "reasoning_tokens" not in details else reasoning


def token_count(figures: Mapping[str, Any], name: str, where: str) -> Optional[int]:
    """figures[name] as a count of tokens, None when absent; a value that is not one is None with a warning."""
    if name not in figures:
        return None
    value = figures[name]
    # The range test comes first: it is False for infinity and NaN, and int() then never overflows.
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= MAX_TOKENS \
            and value == int(value):
        return int(value)
    logger.warning("LLM reply %s is not a token count (an integer from 0 to %s): recorded as unknown",
                   where, f"{MAX_TOKENS:,}")
    return None
