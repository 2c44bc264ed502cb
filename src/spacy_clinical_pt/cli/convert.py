"""The `convert` command (moved here from `..convert.cli`: being split into a thin wrapper)."""

from ..convert.cli import convert_command  # noqa: F401
