"""The project a request is confined to, read from the key authentication left in its scope.

The trace, prompt and eval APIs and the OTLP receiver are given this function (``project_of``)
rather than the key: they belong to packages that know nothing of keys.
"""

from __future__ import annotations

from starlette.requests import Request

from gateway import KeyInfo

__all__ = ["confined_project", "key_id", "score_author", "vouches_for_keys"]


def confined_project(request: Request) -> str | None:
    """The caller's key's project when the key is confined to it; None for every project.

    None for the master key and admin keys, for keys without a project, and for anonymous
    callers when authentication is off: they may see every project.
    """
    key = (request.scope.get("state") or {}).get("key")
    return key.confined_to if isinstance(key, KeyInfo) else None


def vouches_for_keys(request: Request) -> bool:
    """Whether spans the caller sends may say which key paid for them (``spyglass.key.id``).

    Admin keys (another Spyglass exporting its gateway spans) and anonymous callers when
    authentication is off may; any other key may not, or it could put its spend on another's.
    """
    key = (request.scope.get("state") or {}).get("key")
    return not isinstance(key, KeyInfo) or key.role == "admin"


def score_author(request: Request) -> tuple[str | None, bool]:
    """Who writes a score: the key's id (None when anonymous), and whether it is an admin's.

    Anonymous callers (authentication off) count as admins, as everywhere else then.
    """
    key = (request.scope.get("state") or {}).get("key")
    if not isinstance(key, KeyInfo):
        return None, True
    return key.id, key.role == "admin"


def key_id(request: Request) -> str | None:
    """The id of the caller's key (None when anonymous): who made a dataset version."""
    return score_author(request)[0]
