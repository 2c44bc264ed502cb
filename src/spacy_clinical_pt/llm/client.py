"""The `spacy_clinical_pt.OpenAICompatible.v1` model: any OpenAI-compatible `/chat/completions` server.

A spacy-llm model knows nothing about tasks: it takes, per doc, an iterable of prompts (a chat message list
`[{"role": ..., "content": ...}, ...]`, or a plain string sent as one user message) and returns, per doc, a list
of `ChatResponse` (reply text plus tokens, cost, latency). Requests run concurrently, at most `max_concurrency`
at a time; 429, 5xx, timeouts and connection errors are retried with exponential backoff; a request that still
fails gives its doc a reply with `error` set and the run goes on. Each attempt has one deadline, `timeout`
seconds from its start, by which the request must be sent and the whole reply read, however slowly the server
sends it (connecting, TLS handshake included, waits at most `timeout` too). Only the standard library
(`http.client`) speaks HTTP.

Privacy: clinical notes leave the machine only when asked to, and only for the host that was checked. A
`base_url` whose host is not loopback is refused when the model is built (before any request) unless
`allow_remote` is true. The proxy variables of the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY...) are
ignored: a request goes through a proxy only when the config names one in `proxy`, which is checked by the same
rule. Redirects are never followed (a 3xx reply is that note's error). The API key is read from the environment
variable named by `api_key_env`, sent only as the Authorization header and never logged or stored; errors and
logs carry a status, the provider's error type and code and an excerpt of its message with any piece of the
prompt or the key replaced (`privacy.provider_message`), never a prompt.

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

import functools
import http.client
import inspect
import json
import logging
import math
import os
import re
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from email.message import Message
from http import HTTPStatus
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional
from urllib.parse import urlsplit

from spacy_llm.registry import registry

from .cache import ResponseCache, request_key
from .privacy import guard_spacy_llm_logger, provider_message
from .transport import DeadlineSocket, check_endpoint, remaining
from .usage import ChatResponse, usage_figures

logger = logging.getLogger(__name__)

REASONING_EFFORTS = ("minimal", "low", "medium", "high")
# Rate limits and server-side failures pass; other 4xx mean the request itself is wrong and would fail again.
RETRY_STATUSES = frozenset({429}) | frozenset(range(500, 600))
# Request fields the client sets itself; `extra_body` may not replace them.
RESERVED_FIELDS = ("model", "messages")
# The most a reply body may hold (a chat completion is kilobytes); an error body is read up to ERROR_BODY_BYTES.
MAX_REPLY_BYTES = 32 * 2**20
ERROR_BODY_BYTES = 64 * 2**10
READ_BYTES = 64 * 2**10
# What a provider may put in an error, a log or usage.csv beside a status: identifiers and model names only
# (anything else it sends could quote the prompt).
IDENTIFIER = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
MODEL_NAME = re.compile(r"[A-Za-z0-9_.:/@+-]{1,64}")


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
    timeout: seconds one attempt may take, from its start to the last byte of the reply.
    max_retries: retries after the first attempt.
    backoff: wait before the first retry (s), doubled each retry, capped at max_backoff; a Retry-After header
        (seconds) replaces it, also capped at max_backoff.
    max_concurrency: requests in flight at once.
    allow_remote: permit a host that is not loopback (notes are then sent to it), as base_url or as proxy.
    proxy: an http:// proxy every request goes through ("http://proxy.hospital.example:3128"); None (the default)
        connects to base_url directly, whatever the environment's proxy variables say. No credentials in it.
    cache_dir: folder of the response cache (see `cache.py`), checked when the model is built; None disables it.
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
        proxy: Optional[str] = None,
        cache_dir: Optional[str | Path] = ".cache/llm",
        prices: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
    ) -> None:
        if not name:
            raise ValueError("the model `name` is empty: give the name the server serves (e.g. 'gpt-5-mini')")
        guard_spacy_llm_logger()
        self._name = name
        self._base_url = base_url.rstrip("/")
        self._url = f"{self._base_url}/chat/completions"
        check_endpoint(self._base_url, allow_remote, "base_url", ("http", "https"))
        self._target = urlsplit(self._url)
        self._proxy = check_endpoint(proxy, allow_remote, "proxy", ("http",)) if proxy is not None else None
        # The cache key names the endpoint by host and path only: a local server may restart on another port.
        self._cache_endpoint = str(self._target.hostname) + self._target.path
        self._api_key = _read_api_key(api_key_env)
        # Certificates are verified against the system's store, as urllib does; one context serves every request.
        self._tls = ssl.create_default_context() if self._target.scheme == "https" else None

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
        if self._cache is not None:
            self._cache.check()
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
        """One prompt's reply: from the cache, else from the server (stored in the cache when it succeeded).

        A cached reply can be taken out again (`ChatResponse.forget`): a task that cannot read it does, so that a
        rerun asks again. A failed write leaves the reply uncached, says why in `cache_error`, and the run goes on.
        """
        if self._cache is None:
            return self._send_with_retries(body)
        cache, key = self._cache, request_key(self._cache_endpoint, body)
        forget = functools.partial(cache.discard, key)
        hit = cache.get(key)
        if hit is not None:
            return replace(hit, cost_usd=self._cost(hit.prompt_tokens, hit.completion_tokens), forget_hook=forget)
        response = self._send_with_retries(body)
        if response.error is not None:
            return response
        try:
            cache.put(key, response)
        except OSError as err:
            reason = err.strerror or type(err).__name__
            logger.warning("LLM reply not cached (%s); the run goes on", reason)
            return replace(response, cache_error=f"reply not cached: {reason}")
        return replace(response, forget_hook=forget)

    def _send_with_retries(self, body: dict[str, Any]) -> ChatResponse:
        """Post `body` until it succeeds, fails for good, or `max_retries` retries are spent."""
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        prompt_texts = _prompt_texts(body)
        max_attempts = self._max_retries + 1
        attempt = 1
        while True:
            started = time.perf_counter()
            try:
                return self._parse_reply(self._post(data, prompt_texts), time.perf_counter() - started, attempt)
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

    def _post(self, data: bytes, prompt_texts: list[str]) -> bytes:
        """One HTTP attempt, over by `timeout` seconds from now: the 2xx body, or `_RequestFailed` with a reason
        that holds no prompt (`prompt_texts`: the prompt's contents, replaced where an error quotes them)."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        with self._counter_lock:
            self._requests_made += 1
        deadline = time.monotonic() + self._timeout
        connection, target = self._connection(deadline)
        try:
            connection.connect()  # each step of it within `timeout` (the connection's own)
            connection.sock.settimeout(remaining(deadline))  # sendall keeps to one timeout for the whole body
            connection.request("POST", target, body=data, headers=headers)
            reply = connection.getresponse()
            if 200 <= reply.status < 300:
                return _read_body(reply, MAX_REPLY_BYTES)
            if 300 <= reply.status < 400:
                raise _RequestFailed(f"{_status_line(reply.status)}: redirect not followed", False)
            status = self._error_status(reply.status, _read_body(reply, ERROR_BODY_BYTES, cut=True), prompt_texts)
            raise _RequestFailed(status, reply.status in RETRY_STATUSES, _retry_after(reply.headers))
        except TimeoutError:
            raise _RequestFailed("timeout", True) from None
        except ssl.SSLCertVerificationError:
            raise _RequestFailed("connection error (TLS certificate not trusted)", False) from None
        except (OSError, http.client.HTTPException) as err:
            raise _RequestFailed(f"connection error ({type(err).__name__})", True) from None
        finally:
            connection.close()

    def _connection(self, deadline: float) -> tuple[http.client.HTTPConnection, str]:
        """A connection for one attempt (to base_url's host, or to the proxy) and the request target to send.

        Through a proxy, an https request is tunnelled (CONNECT) and an http one is sent to the proxy with its
        absolute URL, as urllib does. Every read of the reply waits until `deadline` at most.
        """
        target = self._target
        path = target.path + (f"?{target.query}" if target.query else "")
        if self._proxy is None:
            host, port, request_target = str(target.hostname), target.port, path
        else:
            host, port = str(self._proxy.hostname), self._proxy.port or 80
            request_target = path if target.scheme == "https" else self._url
        connection: http.client.HTTPConnection
        if target.scheme == "https":
            connection = http.client.HTTPSConnection(host, port, timeout=self._timeout, context=self._tls)
            if self._proxy is not None:
                connection.set_tunnel(str(target.hostname), target.port or 443)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=self._timeout)

        def response(sock: socket.socket, *args: Any, **kwargs: Any) -> http.client.HTTPResponse:
            return http.client.HTTPResponse(DeadlineSocket(sock, deadline), *args, **kwargs)  # type: ignore[arg-type]

        connection.response_class = response  # type: ignore[assignment]
        return connection, request_target

    def _error_status(self, code: int, raw: bytes, prompt_texts: list[str]) -> str:
        """The reason of an error reply: "HTTP 400 Bad Request (type, code): excerpt of the message"."""
        status = _status_line(code)
        labels, message = _provider_error(raw)
        if labels:
            status = f"{status} ({', '.join(labels)})"
        detail = provider_message(message, prompt_texts, [self._api_key] if self._api_key else [])
        return f"{status}: {detail}" if detail else status

    def _parse_reply(self, raw: bytes, latency: float, attempts: int) -> ChatResponse:
        """The ChatResponse of a 2xx body; a body that is not a chat completion raises `_RequestFailed`.

        Token figures that are not counts (negative, fractional, infinite, a string, above usage.MAX_TOKENS) are
        recorded as unknown (None) with a warning: the reply itself is good.
        """
        try:
            reply = json.loads(raw)
            choice = reply["choices"][0]
            text = choice["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError):
            # ValueError includes undecodable bytes and numbers of more digits than int() reads.
            raise _RequestFailed("malformed reply: not a chat completion JSON", False) from None
        if not isinstance(text, str):
            finish = choice.get("finish_reason") if isinstance(choice, dict) else None
            raise _RequestFailed(f"malformed reply: no message content (finish_reason="
                                 f"{finish if _is_identifier(finish) else 'unknown'})", False)
        prompt_tokens, completion_tokens, reasoning_tokens = usage_figures(reply.get("usage"))
        model = reply.get("model")
        return ChatResponse(
            text=text,
            model=model if isinstance(model, str) and MODEL_NAME.fullmatch(model) else self._name,
            latency_s=latency,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            reasoning_tokens=reasoning_tokens,
            cost_usd=self._cost(prompt_tokens, completion_tokens),
            attempts=attempts,
        )

    def _cost(self, prompt_tokens: Optional[int], completion_tokens: Optional[int]) -> Optional[float]:
        """USD of one reply from the price table (per 1M tokens); None without prices or with unknown tokens."""
        if self._prices is None or prompt_tokens is None or completion_tokens is None:
            return None
        return prompt_tokens * self._prices["input"] / 1e6 + completion_tokens * self._prices["output"] / 1e6


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
    # Sent as a header: a space, a line break or a non-ASCII character would make every request fail.
    if not (key.isascii() and key.isprintable()) or " " in key:
        raise ValueError(f"the environment variable {api_key_env} (api_key_env) holds characters an API key does "
                         f"not have (spaces, line breaks or non-ASCII): export the key alone")
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


def _prompt_texts(body: Mapping[str, Any]) -> list[str]:
    """The text contents of a request's messages (a content is a string or a list of {"type": "text", "text"})."""
    texts = []
    for message in body.get("messages", []):
        content = message.get("content")
        parts = content if isinstance(content, list) else [content]
        for part in parts:
            text = part.get("text") if isinstance(part, Mapping) else part
            if isinstance(text, str):
                texts.append(text)
    return texts


def _read_body(reply: http.client.HTTPResponse, limit: int, cut: bool = False) -> bytes:
    """The body of `reply`, at most `limit` bytes: beyond it, the rest is left unread when `cut`, else the reply
    is refused."""
    chunks, size = [], 0
    while size <= limit:
        chunk = reply.read(READ_BYTES)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    if cut:
        return b"".join(chunks)[:limit]
    raise _RequestFailed(f"malformed reply: body over {limit // 2**20} MiB", False)


def _status_line(code: int) -> str:
    """"HTTP 404 Not Found": the standard phrase, never the server's own (which is free text)."""
    try:
        return f"HTTP {code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"HTTP {code}"


def _is_identifier(value: Any) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool) and bool(IDENTIFIER.fullmatch(str(value)))


def _provider_error(raw: bytes) -> tuple[list[str], Any]:
    """The error type (or status) and code of an error body, where they are identifiers, and its message.

    Read: OpenAI's `{"error": {"message", "type", "code"}}`, Google's `[{"error": {"message", "status",
    "code"}}]` and `{"error": "message"}`; anything else gives ([], None).
    """
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        return [], None
    if isinstance(payload, list) and payload:
        payload = payload[0]
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return [], error
    kind = error.get("type") or error.get("status")
    labels = [str(value) for value in (kind, error.get("code")) if _is_identifier(value)]
    return labels, error.get("message")


def _retry_after(headers: Optional[Message]) -> Optional[float]:
    """The Retry-After header in seconds, when the server sent a finite number."""
    value = headers.get("Retry-After") if headers is not None else None
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the exponential backoff applies
    return max(0.0, seconds) if seconds is not None and math.isfinite(seconds) else None


@registry.llm_models("spacy_clinical_pt.OpenAICompatible.v1")
def make_openai_compatible(name: str, **settings: Any) -> OpenAICompatible:
    """Build the chat-completions client. name, settings: the arguments of `OpenAICompatible`."""
    return OpenAICompatible(name, **settings)


# A config is validated against the factory's signature and type hints: the class's, written once.
make_openai_compatible.__signature__ = inspect.signature(OpenAICompatible).replace(return_annotation=OpenAICompatible)
make_openai_compatible.__annotations__ = {**OpenAICompatible.__init__.__annotations__, "return": "OpenAICompatible"}
