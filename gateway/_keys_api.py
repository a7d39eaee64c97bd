"""The keys API: ``/api/keys`` (admins) and ``/api/auth/whoami`` (any key).

A key is returned in clear once, in the answer to its creation; afterwards only its id and
prefix are ever shown.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ._access import parse_period
from ._auth import Access
from ._keys import KeyInfo, KeySettingsError
from .errors import GatewayError, InvalidRequestError

__all__ = ["keys_api"]


class CreateKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    owner: str | None = Field(default=None, max_length=200)
    team: str | None = Field(default=None, max_length=200)
    project: str | None = Field(default=None, max_length=200)
    role: str = "member"
    models: list[str] | None = None
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    budget_usd: float | None = Field(default=None, ge=0)
    budget_period: str | None = Field(default=None, description="e.g. 30d; default 30d")
    expires_at: datetime | None = None
    expires_in: str | None = Field(default=None, description="e.g. 90d, instead of expires_at")
    metadata: dict[str, Any] = Field(default_factory=dict)


def _error(exc: GatewayError) -> Response:
    import orjson

    return Response(orjson.dumps(exc.to_dict()), exc.status_code, exc.headers, "application/json")


def keys_api(access: Access) -> APIRouter:
    """The routes, bound to the app's access control. Store calls run in worker threads."""
    router = APIRouter(prefix="/api", tags=["keys"])
    store = access.store

    @router.get("/auth/whoami")
    async def whoami(request: Request) -> dict[str, Any]:
        """The calling key: id, role, team, limits (never the key)."""
        key: KeyInfo | None = (request.scope.get("state") or {}).get("key")
        if key is None:
            return {"authenticated": False, "auth_required": access.required}
        return {"authenticated": True, "auth_required": access.required, **key.to_dict()}

    @router.post("/keys", status_code=201, response_model=None)
    async def create_key(body: CreateKey, request: Request) -> Any:
        """Create a virtual key; the answer holds the key itself, shown this once."""
        expires_at = body.expires_at
        if body.expires_in is not None:
            try:
                expires_at = datetime.now(UTC) + timedelta(seconds=parse_period(body.expires_in))
            except ValueError as exc:
                return _error(InvalidRequestError(f"expires_in: {exc}", param="expires_in"))
        creator: KeyInfo | None = (request.scope.get("state") or {}).get("key")
        try:
            key, info = await asyncio.to_thread(
                store.create,
                name=body.name,
                owner=body.owner,
                team=body.team,
                project=body.project,
                role=body.role,
                models=body.models,
                rpm=body.rpm,
                tpm=body.tpm,
                budget_usd=body.budget_usd,
                budget_period=body.budget_period,
                expires_at=expires_at,
                metadata=body.metadata,
                created_by=creator.id if creator else None,
            )
        except KeySettingsError as exc:
            return _error(InvalidRequestError(exc.message, param=exc.field))
        return {"key": key, **info.to_dict()}

    @router.get("/keys")
    async def list_keys(team: str | None = None, include_revoked: bool = False) -> Any:
        """Keys (never the keys themselves), newest first."""
        keys = await asyncio.to_thread(store.list_keys, team=team, include_revoked=include_revoked)
        return {"data": [k.to_dict() for k in keys]}

    @router.get("/keys/{key_id}", response_model=None)
    async def get_key(key_id: str) -> Any:
        info = await asyncio.to_thread(store.get, key_id)
        if info is None:
            return _error(_not_found(key_id))
        return info.to_dict()

    @router.delete("/keys/{key_id}", response_model=None)
    async def revoke_key(key_id: str) -> Any:
        """Revoke a key: refused here at once, on other replicas within ``key_cache_ttl``."""
        info = await asyncio.to_thread(store.revoke, key_id)
        if info is None:
            return _error(_not_found(key_id))
        access.forget(key_id)
        return info.to_dict()

    return router


def _not_found(key_id: str) -> GatewayError:
    error = GatewayError(f"no key with id {key_id!r}", status_code=404, param="key_id")
    error.error_type = "not_found_error"
    return error
