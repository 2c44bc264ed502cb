"""Results files: CSV rows, the metrics.json of `evaluate` read back, and the provenance of what was measured
(the sha256 of an input file, the git commit of the checkout)."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from .corpus import describe, describe_error


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Rows of dicts as a CSV with a header (the keys of the first row)."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf8") as handle:
        if rows:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return path


def read_metrics(path: str | Path) -> dict[str, Any]:
    """A metrics.json of `write_outputs`, checked for what `package` and `compare` read from it: objects where
    sections are read, numbers for scores, a number, an object or null for thresholds.

    Raises FileNotFoundError naming the file when it is absent, ValueError naming the file (and the key) when it
    is not JSON or not shaped like a metrics.json.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such metrics file (the metrics.json of `evaluate`)")
    try:
        metrics = json.loads(path.read_text(encoding="utf8"))
    except (ValueError, RecursionError) as error:  # not JSON, not UTF-8, nested too deep, a number too long
        raise ValueError(f"{path}: not a JSON file ({describe_error(error)})") from None
    except OSError as error:
        raise ValueError(f"{path}: cannot be read ({error.strerror or type(error).__name__})") from None
    if not isinstance(metrics, dict):
        raise ValueError(f"{path}: holds {describe(metrics)}, not the object of a metrics.json from `evaluate`")

    def check(keys: tuple[str, ...], kinds: tuple[type, ...], wanted: str) -> None:
        value: Any = metrics
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return  # absent (or under a value already checked): the meta leaves it out
            value = value[key]
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise ValueError(f"{path}: {'.'.join(keys)} is {describe(value)}, not {wanted}")

    null = type(None)
    check(("scheme",), (str, null), "a scheme name")
    scheme = metrics.get("scheme") or "IO"
    for keys in (("threshold",), ("provenance",), ("provenance", "data"), ("counts",), ("entity",),
                 ("entity", "strict"), ("token",), ("token", scheme)):
        check(keys, (dict,), "an object")
    check(("threshold", "continue_threshold"), (dict, null), "an object")
    for role in metrics.get("provenance", {}).get("data", {}):
        check(("provenance", "data", role), (dict,), "an object")
    for keys in (("threshold", "value"), ("threshold", "continue_threshold", "value")):
        check(keys, (int, float, dict, null), "a number or a label -> number object")
    for section in (("token", scheme), ("entity", "strict")):
        for average in ("micro", "macro"):
            check((*section, average), (dict,), "an object")
            for score in ("precision", "recall", "f1"):
                check((*section, average, score), (int, float, null), "a number")
    return metrics


def sha256_of(path: str | Path) -> str:
    """The SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_commit(cwd: str | Path = ".") -> Optional[str]:
    """`git rev-parse HEAD` of the repository holding `cwd` (suffixed "+dirty" with local changes), or None."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if status else "") if head else None
