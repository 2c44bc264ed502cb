"""The `package` command (moved here from `..package`: being split into a thin wrapper)."""

from ..package import package_command  # noqa: F401
