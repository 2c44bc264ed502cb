"""The `export` command (moved here from `..convert.cli`: being split into a thin wrapper)."""

from ..convert.cli import export_command  # noqa: F401
