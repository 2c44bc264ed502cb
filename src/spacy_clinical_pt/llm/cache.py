"""The on-disk cache of chat-completion replies, so a rerun of an LLM baseline costs nothing and gives the same table.

What is on disk: one JSON file per successful reply, `<directory>/<key[:2]>/<key>.json`, holding the reply text,
the reply's model name, its token counts and the latency of the original request. The key is the SHA-256 of the
canonical JSON of the request (endpoint host and path, model name, every parameter sent, the messages), so the
cache holds no prompt and no note text. It does hold the replies, which are derived from the notes (the entities
an LLM found in them): treat the folder as clinical data. It is created readable by its owner only (mode 0o700,
files 0o600) and never holds an API key (headers are not part of the key or the value).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Optional

from .usage import ChatResponse

logger = logging.getLogger(__name__)

# The reply fields a cache file holds; cost is recomputed from the current price table on every hit.
STORED_FIELDS = ("text", "model", "latency_s", "prompt_tokens", "completion_tokens", "reasoning_tokens")


def request_key(endpoint: str, request: dict[str, Any]) -> str:
    """The cache key of one request: a 64-character hex SHA-256.

    endpoint: host and path of the chat-completions URL (e.g. "api.openai.com/v1/chat/completions"), without the
        port, so a local server restarted on another port finds its replies again.
    request: the JSON body sent (model, messages and every generation parameter).
    """
    canonical = json.dumps(
        {"endpoint": endpoint, "request": request}, sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseCache:
    """Successful replies on disk, keyed by `request_key`.

    directory: the cache folder; created (mode 0o700) on the first write.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        """Where the reply of `key` is stored: `<directory>/<key[:2]>/<key>.json`."""
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> Optional[ChatResponse]:
        """The stored reply of `key` with `cached=True`, `attempts=0` (no request made) and no cost, or None."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            return ChatResponse(**{name: stored[name] for name in STORED_FIELDS}, cached=True, attempts=0)
        except (ValueError, KeyError, TypeError) as err:
            # A damaged entry costs one request again rather than the whole run.
            logger.warning("ignoring unreadable LLM cache entry %s (%s)", path, type(err).__name__)
            return None

    def put(self, key: str, response: ChatResponse) -> None:
        """Store a successful reply under `key` (atomically: a reader never sees a half-written file)."""
        if response.error is not None:
            raise ValueError(f"only successful replies are cached, this one failed: {response.error}")
        path = self.path(key)
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        os.makedirs(path.parent, mode=0o700, exist_ok=True)
        data = {name: getattr(response, name) for name in STORED_FIELDS}
        # mkstemp creates the file 0o600 in the same folder, so os.replace is an atomic rename.
        handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{key[:8]}-", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as tmp:
                json.dump(data, tmp, ensure_ascii=False)
            os.replace(tmp_name, path)
        except BaseException:
            os.unlink(tmp_name)
            raise
