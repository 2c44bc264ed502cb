"""The `spacy_clinical_pt.OpenAICompatible.v1` model: any OpenAI-compatible `/chat/completions` server.

A spacy-llm model knows nothing about tasks: it takes, per doc, an iterable of prompts (a chat message list
`[{"role": ..., "content": ...}, ...]`, or a plain string sent as one user message) and returns, per doc, a list
of `ChatResponse` (reply text plus tokens, cost, latency). Requests run concurrently, at most `max_concurrency`
at a time; 429, 5xx, timeouts and connection errors are retried with exponential backoff; a request that still
fails gives its doc a reply with `error` set and the run goes on. Only the standard library speaks HTTP.

Privacy: clinical notes leave the machine only when asked to. A `base_url` whose host is not loopback is refused
when the model is built (before any request) unless `allow_remote` is true. The API key is read from the
environment variable named by `api_key_env`, sent only as the Authorization header and never logged or stored;
errors and logs carry a status and a short reason, never a prompt.

```ini
[components.llm.model]
@llm_models = "spacy_clinical_pt.OpenAICompatible.v1"
name = "gpt-5-mini"
base_url = "https://api.openai.com/v1"
allow_remote = true
temperature = null          # GPT-5 reasoning models reject it
reasoning_effort = "minimal"
prices = {"date": "2025-11-14", "source": "https://openai.com/api/pricing/", "input": 0.25, "output": 2.0}
```
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from email.message import Message
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional
from urllib.parse import urlsplit

from spacy_llm.registry import registry

from .cache import ResponseCache, request_key
from .usage import ChatResponse

logger = logging.getLogger(__name__)

REASONING_EFFORTS = ("minimal", "low", "medium", "high")
# Rate limits and server-side failures pass; other 4xx mean the request itself is wrong and would fail again.
RETRY_STATUSES = frozenset({429}) | frozenset(range(500, 600))
# Request fields the client sets itself; `extra_body` may not replace them.
RESERVED_FIELDS = ("model", "messages")
# Enough for "Unsupported value: 'temperature' does not support 0.1 with this model..." in an error.
PROVIDER_MESSAGE_CHARS = 160


@registry.llm_models("spacy_clinical_pt.OpenAICompatible.v1")
def make_openai_compatible(
    name: str,
    base_url: str = "https://api.openai.com/v1",
    api_key_env: Optional[str] = "OPENAI_API_KEY",
    temperature: Optional[float] = 0.1,
    reasoning_effort: Optional[str] = None,
    max_tokens: Optional[int] = None,
    timeout: float = 120.0,
    max_retries: int = 5,
    backoff: float = 1.0,
    max_backoff: float = 60.0,
    max_concurrency: int = 4,
    allow_remote: bool = False,
    cache_dir: Optional[str] = ".cache/llm",
    prices: Optional[dict[str, Any]] = None,
    extra_body: Optional[dict[str, Any]] = None,
) -> OpenAICompatible:
    """Build the chat-completions client (see `OpenAICompatible` for every argument)."""
    return OpenAICompatible(
        name,
        base_url=base_url,
        api_key_env=api_key_env,
        temperature=temperature,
        reasoning_effort=reasoning_effort,
        max_tokens=max_tokens,
        timeout=timeout,
        max_retries=max_retries,
        backoff=backoff,
        max_backoff=max_backoff,
        max_concurrency=max_concurrency,
        allow_remote=allow_remote,
        cache_dir=cache_dir,
        prices=prices,
        extra_body=extra_body,
    )


class _RequestFailed(Exception):
    """One attempt failed. `status`: short, prompt-free reason; `retryable`; `retry_after`: server's wait (s)."""

    def __init__(self, status: str, retryable: bool, retry_after: Optional[float] = None) -> None:
        super().__init__(status)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


class OpenAICompatible:
    """A spacy-llm model for an OpenAI-compatible chat-completions API.

    name: the model name sent as "model" (e.g. "gpt-5-mini", or what a local vLLM/Ollama server serves).
    base_url: the API root; requests go to `{base_url}/chat/completions`. http or https only.
    api_key_env: NAME of the environment variable holding the API key; None or "" for a server without auth.
    temperature: sent only when not None (reasoning models reject it).
    reasoning_effort: "minimal", "low", "medium" or "high", sent as "reasoning_effort"; None sends nothing.
    max_tokens: reply budget, sent as "max_completion_tokens" (reasoning tokens included); None sends nothing.
    timeout: seconds one attempt may take. max_retries: retries after the first attempt.
    backoff: wait before the first retry (s), doubled each retry, capped at max_backoff; a Retry-After header
        (seconds) replaces it, also capped at max_backoff.
    max_concurrency: requests in flight at once.
    allow_remote: permit a host that is not loopback (notes are then sent to it).
    cache_dir: folder of the response cache (see `cache.py`); None disables it.
    prices: {"date", "source", "input", "output"}, USD per 1M prompt / completion tokens; None: cost is None.
    extra_body: fields merged into every request body (e.g. {"seed": 0}); part of the cache key.
    """

    def __init__(
        self,
        name: str,
        *,
        base_url: str = "https://api.openai.com/v1",
        api_key_env: Optional[str] = "OPENAI_API_KEY",
        temperature: Optional[float] = 0.1,
        reasoning_effort: Optional[str] = None,
        max_tokens: Optional[int] = None,
        timeout: float = 120.0,
        max_retries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        max_concurrency: int = 4,
        allow_remote: bool = False,
        cache_dir: Optional[str | Path] = ".cache/llm",
        prices: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
    ) -> None:
        if not name:
            raise ValueError("the model `name` is empty: give the name the server serves (e.g. 'gpt-5-mini')")
        self._name = name
        self._base_url = base_url.rstrip("/")
        self._host = _check_endpoint(self._base_url, allow_remote)
        self._url = f"{self._base_url}/chat/completions"
        # The cache key names the endpoint by host and path only: a local server may restart on another port.
        self._cache_endpoint = self._host + urlsplit(self._url).path
        self._api_key = _read_api_key(api_key_env)

        if reasoning_effort is not None and reasoning_effort not in REASONING_EFFORTS:
            raise ValueError(f"reasoning_effort must be one of {', '.join(REASONING_EFFORTS)} or null, "
                             f"not {reasoning_effort!r}")
        if max_tokens is not None and max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1 (or null), not {max_tokens}")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive seconds, not {timeout}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, not {max_retries}")
        if backoff < 0 or max_backoff < backoff:
            raise ValueError(f"need 0 <= backoff <= max_backoff, got backoff={backoff}, max_backoff={max_backoff}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, not {max_concurrency}")
        clashes = sorted(set(extra_body or {}) & set(RESERVED_FIELDS))
        if clashes:
            raise ValueError(f"extra_body may not set {', '.join(clashes)}: the client sets them itself")

        # Every generation parameter the request carries (and so the cache key), in one place.
        self._parameters: dict[str, Any] = {}
        if temperature is not None:
            self._parameters["temperature"] = temperature
        if reasoning_effort is not None:
            self._parameters["reasoning_effort"] = reasoning_effort
        if max_tokens is not None:
            self._parameters["max_completion_tokens"] = max_tokens
        self._parameters.update(extra_body or {})

        self._prices = _check_prices(prices)
        self._timeout = timeout
        self._max_retries = max_retries
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._max_concurrency = max_concurrency
        self._cache = ResponseCache(cache_dir) if cache_dir is not None else None
        self._counter_lock = threading.Lock()
        self._requests_made = 0

    @property
    def name(self) -> str:
        """The model name sent as "model"."""
        return self._name

    @property
    def base_url(self) -> str:
        """The API root, without a trailing slash."""
        return self._base_url

    @property
    def requests_made(self) -> int:
        """HTTP requests sent so far, retries included (cache hits send none)."""
        return self._requests_made

    def __repr__(self) -> str:
        return f"OpenAICompatible(name={self._name!r}, base_url={self._base_url!r})"

    def __call__(self, prompts: Iterable[Iterable[Any]]) -> Iterable[list[ChatResponse]]:
        """Send every prompt, at most `max_concurrency` at once; replies come back in input order.

        prompts: per doc, an iterable of prompts; a prompt is a chat message list or a string (one user message).
        RETURNS: per doc, one ChatResponse per prompt (text "" and `error` set for a request that failed).
        """
        bodies: list[list[dict[str, Any]]] = [
            [self._request_body(prompt) for prompt in doc_prompts] for doc_prompts in prompts
        ]
        flat = [body for doc_bodies in bodies for body in doc_bodies]
        with ThreadPoolExecutor(max_workers=self._max_concurrency, thread_name_prefix="llm-request") as pool:
            replies = iter(list(pool.map(self._complete, flat)))
        return [[next(replies) for _ in doc_bodies] for doc_bodies in bodies]

    def _request_body(self, prompt: Any) -> dict[str, Any]:
        """The JSON body of one prompt: model, messages, then the generation parameters."""
        if isinstance(prompt, str):
            messages = [{"role": "user", "content": prompt}]
        elif isinstance(prompt, Iterable) and not isinstance(prompt, Mapping):
            messages = [_check_message(message) for message in prompt]
        else:
            raise TypeError(f"a prompt must be a chat message list or a string, not {type(prompt).__name__}")
        if not messages:
            raise ValueError("a prompt has no messages")
        return {"model": self._name, "messages": messages, **self._parameters}

    def _complete(self, body: dict[str, Any]) -> ChatResponse:
        """One prompt's reply: from the cache, else from the server (stored in the cache when it succeeded)."""
        if self._cache is None:
            return self._send_with_retries(body)
        key = request_key(self._cache_endpoint, body)
        hit = self._cache.get(key)
        if hit is not None:
            return replace(hit, cost_usd=self._cost(hit.prompt_tokens, hit.completion_tokens))
        response = self._send_with_retries(body)
        if response.error is None:
            self._cache.put(key, response)
        return response

    def _send_with_retries(self, body: dict[str, Any]) -> ChatResponse:
        """Post `body` until it succeeds, fails for good, or `max_retries` retries are spent."""
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        max_attempts = self._max_retries + 1
        attempt = 1
        while True:
            started = time.perf_counter()
            try:
                return self._parse_reply(self._post(data), time.perf_counter() - started, attempt)
            except _RequestFailed as failure:
                if not failure.retryable or attempt == max_attempts:
                    suffix = f" after {attempt} attempts" if attempt > 1 else ""
                    return ChatResponse(text="", model=self._name, latency_s=time.perf_counter() - started,
                                        cost_usd=self._cost(0, 0), error=f"{failure.status}{suffix}",
                                        attempts=attempt)
                delay = min(self._backoff * 2 ** (attempt - 1), self._max_backoff)
                if failure.retry_after is not None:
                    delay = min(failure.retry_after, self._max_backoff)
                logger.warning("LLM request failed (%s), attempt %d of %d; retrying in %.2f s",
                               failure.status, attempt, max_attempts, delay)
                time.sleep(delay)
                attempt += 1

    def _post(self, data: bytes) -> bytes:
        """One HTTP attempt; raises `_RequestFailed` with a prompt-free reason."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(self._url, data=data, headers=headers, method="POST")
        with self._counter_lock:
            self._requests_made += 1
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as reply:
                return reply.read()
        except urllib.error.HTTPError as err:
            status = f"HTTP {err.code} {err.reason}"
            detail = _provider_message(err)
            if detail:
                status = f"{status}: {detail}"
            raise _RequestFailed(status, err.code in RETRY_STATUSES, _retry_after(err.headers)) from None
        except TimeoutError:
            raise _RequestFailed("timeout", True) from None
        except urllib.error.URLError as err:
            if isinstance(err.reason, TimeoutError):
                raise _RequestFailed("timeout", True) from None
            raise _RequestFailed(f"connection error ({type(err.reason).__name__})", True) from None
        except (ConnectionError, http.client.HTTPException) as err:
            raise _RequestFailed(f"connection error ({type(err).__name__})", True) from None

    def _parse_reply(self, raw: bytes, latency: float, attempts: int) -> ChatResponse:
        """The ChatResponse of a 200 body; a body that is not a chat completion raises `_RequestFailed`."""
        try:
            reply = json.loads(raw)
            choice = reply["choices"][0]
            text = choice["message"]["content"]
            usage = reply.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens") or 0)
            completion_tokens = int(usage.get("completion_tokens") or 0)
            reasoning_tokens = int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise _RequestFailed("malformed reply: not a chat completion JSON", False) from None
        if not isinstance(text, str):
            raise _RequestFailed(f"malformed reply: no message content "
                                 f"(finish_reason={choice.get('finish_reason')})", False)
        return ChatResponse(
            text=text,
            model=str(reply.get("model") or self._name),
            latency_s=latency,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            reasoning_tokens=reasoning_tokens,
            cost_usd=self._cost(prompt_tokens, completion_tokens),
            attempts=attempts,
        )

    def _cost(self, prompt_tokens: int, completion_tokens: int) -> Optional[float]:
        """USD of one reply from the price table (per 1M tokens); None without prices."""
        if self._prices is None:
            return None
        return prompt_tokens * self._prices["input"] / 1e6 + completion_tokens * self._prices["output"] / 1e6


def _check_endpoint(base_url: str, allow_remote: bool) -> str:
    """The host of `base_url`; refuses other schemes than http(s), and a remote host without `allow_remote`."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"base_url must be an http:// or https:// URL, not {base_url!r}")
    host = parts.hostname
    if not host:
        raise ValueError(f"base_url has no host: {base_url!r}")
    if not allow_remote and not _is_loopback(host):
        raise ValueError(
            f"notes would be sent to {host}; set `allow_remote = true` in the model config "
            f"(or `--allow-remote`) to opt in"
        )
    return host


def _is_loopback(host: str) -> bool:
    """Whether `host` is this machine by its literal name or address (no DNS lookup: it could be spoofed)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _read_api_key(api_key_env: Optional[str]) -> Optional[str]:
    """The API key from the variable named `api_key_env`; None when no variable is named."""
    if not api_key_env:
        return None
    key = os.environ.get(api_key_env)
    if not key:
        raise ValueError(
            f"the environment variable {api_key_env} (api_key_env) is not set or empty: export the API key "
            f"there, or set api_key_env = null for a local server without authentication"
        )
    return key


def _check_prices(prices: Optional[Mapping[str, Any]]) -> Optional[dict[str, Any]]:
    """The price table with numeric "input" and "output" (USD per 1M tokens), or None."""
    if prices is None:
        return None
    for field in ("input", "output"):
        value = prices.get(field)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"prices[{field!r}] must be USD per 1M tokens (a number >= 0), not {value!r}; "
                             f"expected {{'date': ..., 'source': ..., 'input': ..., 'output': ...}}")
    return dict(prices)


def _check_message(message: Any) -> dict[str, Any]:
    """One chat message as a plain dict; the error names what is missing, never the content."""
    if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
        raise TypeError(f"a chat message must be a mapping with 'role' and 'content', got {type(message).__name__}"
                        + (f" with keys {sorted(message)}" if isinstance(message, Mapping) else ""))
    return dict(message)


def _retry_after(headers: Optional[Message]) -> Optional[float]:
    """The Retry-After header in seconds, when the server sent a number."""
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the exponential backoff applies


def _provider_message(err: urllib.error.HTTPError) -> str:
    """The provider's `error.message` on one line, cut to PROVIDER_MESSAGE_CHARS (it names a bad parameter or a
    limit, not the prompt), or "" when the body has none."""
    try:
        payload = json.loads(err.read())
        error = payload["error"]
        message = error["message"] if isinstance(error, dict) else error
    except (ValueError, KeyError, TypeError, OSError, http.client.HTTPException):
        return ""
    if not message:
        return ""
    message = " ".join(str(message).split())
    if len(message) <= PROVIDER_MESSAGE_CHARS:
        return message
    return message[: PROVIDER_MESSAGE_CHARS - 3] + "..."
