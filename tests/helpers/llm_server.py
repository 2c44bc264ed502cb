"""A fake OpenAI-compatible chat-completions server for the tests (standard library only, 127.0.0.1 only).

API (import it as `from llm_server import FakeLLMServer, Reply, chat_completion, usage, user_message`):

- `Reply(status=200, content="...", usage=None, delay=0.0, headers={}, body=None, reason=None, chunks=1,
  chunk_delay=0.0, error_type="fake_error", error_code=None)`: one scripted answer. A 200 sends
  `chat_completion(content, usage)`; another status sends `{"error": {"message": content, "type": error_type,
  "code": error_code}}`. `body` replaces the JSON with exactly that (a dict is JSON-encoded, a str/bytes is sent
  as is: malformed replies, `1e400` or 5,000-digit numbers). `delay` seconds pass before the answer (timeouts);
  `headers` are added (e.g. {"Retry-After": "0"}, {"Location": other.base_url} for a redirect); `reason`
  replaces the status line's phrase. The body is sent in `chunks` pieces, `chunk_delay` seconds before each
  (a slowly sent body: every read is quick, the whole takes `chunks * chunk_delay`).
- `chat_completion(content, usage=None, model="fake-model")`: the OpenAI JSON of one reply.
- `usage(prompt, completion, reasoning=0)`: an OpenAI `usage` object, reasoning tokens in
  `completion_tokens_details`.
- `user_message(body)`: the content of the last user message of a request body, to choose a reply by it.
- `FakeLLMServer(replies)`: `replies` is a callable `(body: dict) -> Reply` (called for every request, from the
  server's threads), a single `Reply` (sent to every request), or a list of `Reply` (a queue, one per request in
  arrival order; when it runs out the server answers 500 "no scripted reply left").
  Use it as a context manager (`with FakeLLMServer(...) as server:`) or call `start()` / `stop()`.
  `.base_url`: "http://127.0.0.1:PORT/v1"; `.url`: "http://127.0.0.1:PORT" (to name it as a proxy).
  `.requests`: the `Received` requests of every method (`method`, `path` as sent: the absolute URL when the
  client took this server for a proxy, `body`: the parsed JSON or None, `headers`: lower-cased names -> values,
  `at`: time.monotonic() on arrival). `.max_in_flight`: the most requests it was answering at once. Only
  `POST /v1/chat/completions` (also in the absolute form a proxy receives) is served; other paths get 404,
  other methods 405.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional, Union
from urllib.parse import urlsplit

PATH = "/v1/chat/completions"


def usage(prompt: int, completion: int, reasoning: int = 0) -> dict[str, Any]:
    """An OpenAI `usage` object: prompt/completion tokens, reasoning tokens inside the completion ones."""
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def chat_completion(content: str, usage: Optional[dict[str, Any]] = None, model: str = "fake-model") -> dict[str, Any]:
    """The JSON body of one chat-completion reply with `content` as the assistant message."""
    reply: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
    }
    if usage is not None:
        reply["usage"] = usage
    return reply


def user_message(body: dict[str, Any]) -> str:
    """The content of the last user message of a request body ("" when there is none)."""
    contents = [message.get("content", "") for message in body.get("messages", []) if message.get("role") == "user"]
    return contents[-1] if contents else ""


@dataclass
class Reply:
    """One scripted answer (see the module docstring)."""

    status: int = 200
    content: str = ""
    usage: Optional[dict[str, Any]] = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: Union[dict[str, Any], str, bytes, None] = None
    reason: Optional[str] = None
    chunks: int = 1
    chunk_delay: float = 0.0
    error_type: Optional[str] = "fake_error"
    error_code: Optional[str] = None

    def payload(self) -> bytes:
        """The bytes sent as the response body."""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        if self.body is not None:
            data = self.body
        elif self.status == 200:
            data = chat_completion(self.content, self.usage)
        else:
            data = {"error": {"message": self.content, "type": self.error_type, "code": self.error_code}}
        return json.dumps(data).encode("utf-8")


@dataclass
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    body: Any
    headers: dict[str, str]
    at: float


Replies = Union[Callable[[dict[str, Any]], Reply], Reply, list[Reply]]


class FakeLLMServer:
    """An OpenAI-compatible server on 127.0.0.1 (a free port) answering from a script (see the module docstring)."""

    def __init__(self, replies: Replies) -> None:
        self._replies = replies
        self._lock = threading.Lock()
        self._in_flight = 0
        self.max_in_flight = 0
        self.requests: list[Received] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        # A client that timed out closes its socket under a delayed reply: that is expected, not an error.
        self._httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self._thread: Optional[threading.Thread] = None

    @property
    def base_url(self) -> str:
        """The API root the client is given: "http://127.0.0.1:PORT/v1"."""
        return f"{self.url}/v1"

    @property
    def url(self) -> str:
        """The server's root, "http://127.0.0.1:PORT" (what a client is given as its proxy)."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> FakeLLMServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        if isinstance(self._replies, Reply):
            return self._replies
        if isinstance(self._replies, list):
            with self._lock:
                if self._replies:
                    return self._replies.pop(0)
            return Reply(status=500, content="fake server: no scripted reply left")
        return self._replies(body)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                self.answer()

            def do_GET(self) -> None:  # noqa: N802 (a client following a redirect turns a POST into a GET)
                self.answer()

            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                with server._lock:
                    server.requests.append(
                        Received(self.command, self.path, body,
                                 {name.lower(): value for name, value in self.headers.items()}, time.monotonic())
                    )
                    server._in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server._in_flight)
                try:
                    if self.command != "POST":
                        reply = Reply(status=405, content=f"fake server: no {self.command}")
                    elif urlsplit(self.path).path != PATH:
                        reply = Reply(status=404, content=f"fake server: no route {urlsplit(self.path).path}")
                    elif not isinstance(body, dict):
                        reply = Reply(status=400, content="fake server: the request body is not a JSON object")
                    else:
                        reply = server._next_reply(body)
                    time.sleep(reply.delay)
                    payload = reply.payload()
                    self.send_response(reply.status, reply.reason)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    size = max(1, -(-len(payload) // max(1, reply.chunks)))
                    for start in range(0, len(payload), size):
                        time.sleep(reply.chunk_delay)
                        self.wfile.write(payload[start:start + size])
                        self.wfile.flush()
                finally:
                    with server._lock:
                        server._in_flight -= 1

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
                """Silent: the test output stays readable."""

        return Handler
