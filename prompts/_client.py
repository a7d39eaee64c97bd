"""The client apps load prompts with: from a Spyglass server, or straight from the store.

Every version fetched is cached for ``ttl`` seconds. When the registry cannot be reached (a
connection error, a timeout, a 5xx), the last good copy is served, however old, with a
warning in the log: an app never breaks because the registry is down. With a ``cache_dir``,
copies also survive a restart. Only when there is no copy at all is it an error
(``RegistryUnavailableError``). A definite answer (no such prompt or label) is never papered
over with a stale copy.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from ._model import PromptRef, PromptVersion, parse_ref
from .errors import (
    InvalidPromptError,
    PromptError,
    PromptNotFoundError,
    RegistryUnavailableError,
)

__all__ = ["PromptClient", "load_prompt"]

log = logging.getLogger("spyglass.prompts")


class PromptClient:
    """Loads prompt versions by reference, with a TTL cache and a last-good-copy fallback.

    Args:
        url: a Spyglass server (``http://host:4000``); its ``/api/prompts`` is used.
        store: a ``PromptStore`` to read directly instead (the CLI, the gateway, evals).
        api_key: sent as ``Authorization: Bearer`` to the server.
        ttl: seconds a fetched version is used without asking again.
        timeout: seconds to wait for the server.
        cache_dir: where copies are kept on disk (so they survive a restart); none by default.
        transport: the HTTP transport (tests pass a mock or an ASGI transport).
        clock: a monotonic clock (tests pass a fake one).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        store: Any = None,
        api_key: str | None = None,
        ttl: float = 60.0,
        timeout: float = 5.0,
        cache_dir: str | Path | None = None,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (url is None) == (store is None):
            raise ValueError("PromptClient needs exactly one of url= or store=")
        self.url = url.rstrip("/") if url else None
        self.store = store
        self.ttl = ttl
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._clock = clock
        self._cache: dict[str, tuple[float, PromptVersion]] = {}
        self._lock = threading.Lock()
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._http_options: dict[str, Any] = {"headers": headers, "timeout": timeout}
        self._transport = transport
        self._async_transport = async_transport

    # -- public ----------------------------------------------------------------------------

    def get(self, ref: str | PromptRef, *, project: str | None = None) -> PromptVersion:
        """The version ``ref`` names (``name``, ``name@label``, ``name/N``).

        ``project`` picks the namespace (None: the prompts of no project). Against a server,
        a key with a project needs none: the server looks in the key's project.

        Raises:
            PromptNotFoundError: the registry says there is no such prompt, label or version.
            RegistryUnavailableError: the registry cannot be reached and nothing is cached.
        """
        ref = str(parse_ref(ref) if isinstance(ref, str) else ref)
        key = _cache_key(ref, project)
        fresh = self._fresh(key)
        if fresh is not None:
            return fresh
        try:
            version = self._fetch(ref, project)
        except (PromptNotFoundError, InvalidPromptError):
            raise
        except Exception as exc:
            return self._fallback(key, exc)
        return self._keep(key, version)

    async def aget(self, ref: str | PromptRef, *, project: str | None = None) -> PromptVersion:
        """``get`` for async code: the server is asked without blocking the event loop."""
        ref = str(parse_ref(ref) if isinstance(ref, str) else ref)
        key = _cache_key(ref, project)
        fresh = self._fresh(key)
        if fresh is not None:
            return fresh
        try:
            if self.url is not None:
                version = await self._afetch(ref, project)
            else:
                version = await asyncio.to_thread(self.store.get, ref, project=project)
        except (PromptNotFoundError, InvalidPromptError):
            raise
        except Exception as exc:
            return self._fallback(key, exc)
        return self._keep(key, version)

    def invalidate(self, ref: str | None = None, *, project: str | None = None) -> None:
        """Forget cached copies (all, or one reference), in memory only."""
        with self._lock:
            if ref is None:
                self._cache.clear()
            else:
                self._cache.pop(_cache_key(str(parse_ref(ref)), project), None)

    # -- cache -----------------------------------------------------------------------------

    def _fresh(self, key: str) -> PromptVersion | None:
        with self._lock:
            found = self._cache.get(key)
        if found is not None and self._clock() - found[0] < self.ttl:
            return found[1]
        return None

    def _keep(self, key: str, version: PromptVersion) -> PromptVersion:
        with self._lock:
            self._cache[key] = (self._clock(), version)
        if self.cache_dir is not None:
            try:
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                path = self._disk_path(key)
                tmp = path.with_suffix(".tmp")
                tmp.write_bytes(orjson.dumps(version.to_dict()))
                os.replace(tmp, path)
            except OSError as exc:
                log.warning("could not write the prompt cache in %s: %s", self.cache_dir, exc)
        return version

    def _fallback(self, key: str, exc: Exception) -> PromptVersion:
        where = self.url or "the store"
        reason = type(exc).__name__
        with self._lock:
            found = self._cache.get(key)
        if found is not None:
            age = self._clock() - found[0]
            log.warning(
                "prompt registry at %s unreachable (%s); serving the copy of %s from %.0f s ago",
                where,
                reason,
                key,
                age,
            )
            return found[1]
        if self.cache_dir is not None:
            try:
                data = orjson.loads(self._disk_path(key).read_bytes())
                version = PromptVersion.from_dict(data)
            except (OSError, ValueError, KeyError, PromptError):
                pass
            else:
                log.warning(
                    "prompt registry at %s unreachable (%s); serving %s from the disk cache",
                    where,
                    reason,
                    key,
                )
                with self._lock:
                    # Stale at once: the next call asks the registry again.
                    self._cache[key] = (self._clock() - self.ttl, version)
                return version
        raise RegistryUnavailableError(
            f"prompt registry at {where} is unreachable ({reason}) and there is no cached "
            f"copy of {key!r}"
        ) from None

    def _disk_path(self, key: str) -> Path:
        assert self.cache_dir is not None
        digest = hashlib.sha256(f"{self.url or 'store'}\n{key}".encode()).hexdigest()[:32]
        return self.cache_dir / f"{digest}.json"

    # -- fetching --------------------------------------------------------------------------

    def _path(self, ref: str) -> str:
        return f"{self.url}/api/prompts/{quote(ref, safe='/@')}"

    def _fetch(self, ref: str, project: str | None) -> PromptVersion:
        if self.url is None:
            version: PromptVersion = self.store.get(ref, project=project)
            return version
        with httpx.Client(transport=self._transport, **self._http_options) as client:
            response = client.get(self._path(ref), params=_project_param(project))
        return _parse(ref, response)

    async def _afetch(self, ref: str, project: str | None) -> PromptVersion:
        async with httpx.AsyncClient(
            transport=self._async_transport, **self._http_options
        ) as client:
            response = await client.get(self._path(ref), params=_project_param(project))
        return _parse(ref, response)


def _cache_key(ref: str, project: str | None) -> str:
    """What a copy is cached under: the reference, and its project (a name has no spaces)."""
    return ref if project is None else f"{ref} (project {project})"


def _project_param(project: str | None) -> dict[str, str]:
    return {"project": project} if project is not None else {}


def _parse(key: str, response: httpx.Response) -> PromptVersion:
    if response.status_code == 404:
        raise PromptNotFoundError(_detail(response) or f"no prompt {key!r}")
    if response.status_code in (400, 422):
        raise InvalidPromptError(_detail(response) or f"bad prompt reference {key!r}")
    response.raise_for_status()  # 401/403/5xx: the registry is not usable right now
    return PromptVersion.from_dict(response.json())


def _detail(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    detail = body.get("detail") if isinstance(body, dict) else None
    return detail if isinstance(detail, str) else None


_DEFAULT_CLIENTS: dict[tuple[str, str], PromptClient] = {}
_DEFAULT_LOCK = threading.Lock()


def load_prompt(
    ref: str,
    *,
    url: str | None = None,
    api_key: str | None = None,
    client: PromptClient | None = None,
) -> PromptVersion:
    """Load a prompt version: ``load_prompt("summarize@production").render(text=...)``.

    Without ``client``, one is made on first use and reused: against ``url`` (or the
    ``SPYGLASS_URL`` environment variable), else straight from the store named by
    ``SPYGLASS_DATABASE_URL`` (or the SQLite file under ``SPYGLASS_HOME``, default
    ``./.spyglass``). That client caches for 60 s and keeps copies under
    ``$SPYGLASS_HOME/prompt-cache`` so a restart during a registry outage still works.
    """
    if client is None:
        client = _default_client(url, api_key)
    return client.get(ref)


def _default_client(url: str | None, api_key: str | None) -> PromptClient:
    home = Path(os.environ.get("SPYGLASS_HOME") or ".spyglass")
    url = url or os.environ.get("SPYGLASS_URL")
    database = os.environ.get("SPYGLASS_DATABASE_URL") or f"sqlite:///{home / 'spyglass.db'}"
    if database.startswith(("postgres://", "postgresql://")):
        database = "postgresql+psycopg://" + database.split("://", 1)[1]
    key = ("url", url) if url else ("db", database)
    with _DEFAULT_LOCK:
        found = _DEFAULT_CLIENTS.get(key)
        if found is None:
            cache = home / "prompt-cache"
            if url:
                found = PromptClient(
                    url, api_key=api_key or os.environ.get("SPYGLASS_API_KEY"), cache_dir=cache
                )
            else:
                from sqlalchemy import create_engine

                from ._store import PromptStore

                found = PromptClient(store=PromptStore(create_engine(database)), cache_dir=cache)
            _DEFAULT_CLIENTS[key] = found
    return found
