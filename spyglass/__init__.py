"""Spyglass: the composition root. ``create_app(settings)`` builds the server; the CLI drives it.

Names are imported on first use, so ``spyglass --help`` stays instant (no web framework,
database driver or litellm import).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from ._app import create_app
    from ._settings import Settings, load_settings

__all__ = ["Settings", "__version__", "create_app", "load_settings"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from ._app import create_app

        return create_app
    if name in ("Settings", "load_settings"):
        from . import _settings

        return getattr(_settings, name)
    raise AttributeError(f"module 'spyglass' has no attribute {name!r}")
