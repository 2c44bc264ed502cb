"""The on-disk cache of chat-completion replies, so a rerun of an LLM baseline costs nothing and gives the same table.

What is on disk: one JSON file per successful reply, `<directory>/<key[:2]>/<key>.json`, holding the reply text,
the reply's model name, its token counts and the latency of the original request (a reply the task could not read
is taken out again, `discard`, so a rerun asks for it once more). The key is the SHA-256 of the canonical JSON of
the request (endpoint host and path, model name, every parameter sent, the messages), so the cache holds no
prompt and no note text. It does hold the replies, which are derived from the notes (the entities an LLM found in
them): treat the folder as clinical data. It is created readable by its owner only (mode 0o700,
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

    def check(self) -> None:
        """Raise ValueError, naming the folder, when it cannot hold the cache (see `check_writable`)."""
        check_writable(self.directory, "cache_dir", "give another cache_dir, or cache_dir = null to run without a "
                                                    "cache")

    def path(self, key: str) -> Path:
        """Where the reply of `key` is stored: `<directory>/<key[:2]>/<key>.json`."""
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> Optional[ChatResponse]:
        """The stored reply of `key` with `cached=True`, `attempts=0` (no request made) and no cost, or None."""
        path = self.path(key)
        try:
            if not path.is_file():
                return None
            stored = json.loads(path.read_text(encoding="utf-8"))
            return _stored_response({name: stored[name] for name in STORED_FIELDS})
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as err:
            # A damaged entry costs one request again rather than the whole run.
            logger.warning("ignoring unreadable LLM cache entry %s (%s)", path, type(err).__name__)
            return None

    def discard(self, key: str) -> None:
        """Take the reply of `key` out of the cache (a failure to do so is logged: the run goes on)."""
        path = self.path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as err:
            logger.warning("could not remove LLM cache entry %s (%s)", path, err.strerror or type(err).__name__)

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


def check_writable(path: Path, setting: str, advice: str, folder: bool = True) -> None:
    """Raise ValueError when this process cannot write `path` (a folder when `folder`, else a file): it, or the
    nearest existing folder above it (where it will be created), must be of that kind and writable.

    setting: how the message names the path ("cache_dir", "--output"). advice: what to do, ending the message.
    """
    existing = path
    try:
        while not existing.exists() and existing.parent != existing:
            existing = existing.parent
        is_folder = existing.is_dir()
    except OSError as err:
        raise ValueError(f"{setting} {path}: cannot be checked ({err.strerror}); {advice}") from None
    if existing == path and not folder and is_folder:
        raise ValueError(f"{setting} {path}: is a folder, not a file; {advice}")
    if (existing != path or folder) and not is_folder:
        raise ValueError(f"{setting} {path}: {existing} is not a folder; {advice}")
    if not os.access(existing, os.W_OK | (os.X_OK if is_folder else 0)):
        raise ValueError(f"{setting} {path}: {existing} is not writable by this user; {advice}")


def _stored_response(stored: dict[str, Any]) -> ChatResponse:
    """The ChatResponse of a cache file's fields; TypeError when one has the wrong type."""
    tokens = [stored[name] for name in ("prompt_tokens", "completion_tokens", "reasoning_tokens")]
    if (not isinstance(stored["text"], str) or not isinstance(stored["model"], str)
            or isinstance(stored["latency_s"], bool) or not isinstance(stored["latency_s"], (int, float))
            or not all(count is None or (type(count) is int and count >= 0) for count in tokens)):
        raise TypeError("a cache entry field has the wrong type")
    return ChatResponse(**stored, cached=True, attempts=0)
