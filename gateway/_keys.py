"""Virtual keys: created with their limits, shown once, stored only as a hash, revocable.

A key is ``sk-sg-`` and 43 URL-safe characters (256 random bits). Only its SHA-256 is stored:
with that much entropy a fast hash is as safe as a slow one, and it lets every request find
its key with one index lookup. ``prefix`` (the first characters) is kept to tell keys apart in
listings.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast

from sqlalchemy import JSON, Column, DateTime, Index, Table, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel

from ._access import parse_period

__all__ = [
    "ROLES",
    "KeyInfo",
    "KeyRecord",
    "KeyStore",
    "Role",
    "hash_key",
    "new_key",
]

Role = Literal["admin", "member", "viewer", "ingest", "feedback"]
ROLES: tuple[Role, ...] = ("admin", "member", "viewer", "ingest", "feedback")
PREFIX = "sk-sg-"
JSONType = JSON().with_variant(JSONB(), "postgresql")


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class KeyRecord(SQLModel, table=True):
    """A virtual key. ``key_hash`` is unique; the key itself is never stored."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_team", "team"),)

    id: str = Field(primary_key=True, max_length=40)
    key_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)
    name: str | None = Field(default=None, max_length=200)
    owner: str | None = Field(default=None, max_length=200)
    team: str | None = Field(default=None, max_length=200)
    project: str | None = Field(default=None, max_length=200)
    role: str = Field(default="member", max_length=16)
    models: list[str] | None = Field(default=None, sa_column=Column(JSONType, nullable=True))
    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None
    budget_period_s: int | None = None
    expires_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    metadata_: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column("metadata", JSONType, nullable=False)
    )
    created_by: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


KEYS = cast(Table, KeyRecord.__table__)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class KeyInfo:
    """What a request's key allows; the same shape for the master key and virtual keys."""

    id: str
    role: Role
    name: str | None = None
    owner: str | None = None
    team: str | None = None
    project: str | None = None
    models: tuple[str, ...] | None = None
    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None
    budget_period_s: int | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    created_at: datetime | None = None
    prefix: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def usable(self, now: datetime) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now

    def allows_model(self, model: str) -> bool:
        return self.models is None or model in self.models

    @property
    def confined_to(self) -> str | None:
        """The project this key is limited to: its own, unless it is an admin's.

        Such a key reads only its project's traces, prompts and eval runs, and the spans it
        sends are filed under its project whatever they say. An admin's project only labels
        its own gateway calls (and picks the prompts they name).
        """
        return self.project if self.role != "admin" else None

    def to_dict(self) -> dict[str, Any]:
        """The key as the API lists it: never the key itself."""
        return {
            "id": self.id,
            "prefix": self.prefix,
            "name": self.name,
            "owner": self.owner,
            "team": self.team,
            "project": self.project,
            "role": self.role,
            "models": list(self.models) if self.models is not None else None,
            "rpm": self.rpm,
            "tpm": self.tpm,
            "budget_usd": self.budget_usd,
            "budget_period_s": self.budget_period_s,
            "expires_at": _iso(self.expires_at),
            "created_at": _iso(self.created_at),
            "revoked_at": _iso(self.revoked_at),
            "metadata": dict(self.metadata),
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _info(row: Any) -> KeyInfo:
    return KeyInfo(
        id=row.id,
        role=row.role,
        name=row.name,
        owner=row.owner,
        team=row.team,
        project=row.project,
        models=tuple(row.models) if row.models is not None else None,
        rpm=row.rpm,
        tpm=row.tpm,
        budget_usd=row.budget_usd,
        budget_period_s=row.budget_period_s,
        expires_at=_utc(row.expires_at),
        revoked_at=_utc(row.revoked_at),
        created_at=_utc(row.created_at),
        prefix=row.prefix,
        metadata=row.metadata or {},
    )


class KeySettingsError(ValueError):
    """A key's settings are invalid; ``field`` names the one at fault."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class KeyStore:
    """Virtual keys in SQL (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(
        self,
        *,
        name: str | None = None,
        owner: str | None = None,
        team: str | None = None,
        project: str | None = None,
        role: str = "member",
        models: Sequence[str] | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        budget_usd: float | None = None,
        budget_period: str | int | None = None,
        expires_at: datetime | None = None,
        metadata: Mapping[str, Any] | None = None,
        created_by: str | None = None,
    ) -> tuple[str, KeyInfo]:
        """Make a key. Returns the key (shown this once) and its record.

        Raises:
            KeySettingsError: a setting is invalid (``field`` names it).
        """
        if role not in ROLES:
            raise KeySettingsError(
                f"role: expected one of {', '.join(ROLES)}, got {role!r}", "role"
            )
        for value, name_ in ((rpm, "rpm"), (tpm, "tpm")):
            if value is not None and value < 1:
                raise KeySettingsError(f"{name_}: must be at least 1", name_)
        if budget_usd is not None and budget_usd < 0:
            raise KeySettingsError("budget_usd: must not be negative", "budget_usd")
        period = None
        if budget_period is not None or budget_usd is not None:
            try:
                period = parse_period(budget_period if budget_period is not None else "30d")
            except ValueError as exc:
                raise KeySettingsError(f"budget_period: {exc}", "budget_period") from None
        if expires_at is not None:
            expires_at = _utc(expires_at)
            if expires_at is not None and expires_at <= _now():
                raise KeySettingsError("expires_at: must be in the future", "expires_at")
        if project is not None and not project.strip():
            raise KeySettingsError("project: must not be empty (omit it for no project)", "project")
        if models is not None and any(not isinstance(m, str) or not m for m in models):
            raise KeySettingsError("models: expected model names", "models")
        key = new_key()
        key_id = "key_" + uuid.uuid4().hex[:16]
        with self.engine.begin() as conn:
            conn.execute(
                KEYS.insert().values(
                    id=key_id,
                    key_hash=hash_key(key),
                    prefix=key[: len(PREFIX) + 4],
                    name=name,
                    owner=owner,
                    team=team,
                    project=project,
                    role=role,
                    models=list(models) if models is not None else None,
                    rpm=rpm,
                    tpm=tpm,
                    budget_usd=budget_usd,
                    budget_period_s=period,
                    expires_at=expires_at,
                    metadata=dict(metadata or {}),
                    created_by=created_by,
                    created_at=_now(),
                )
            )
        info = self.get(key_id)
        assert info is not None
        return key, info

    def find(self, key: str) -> KeyInfo | None:
        """The record of a presented key (revoked and expired ones too), or None."""
        digest = hash_key(key)
        with self.engine.connect() as conn:
            row = conn.execute(select(KEYS).where(KEYS.c.key_hash == digest)).first()
        if row is None or not hmac.compare_digest(row.key_hash, digest):
            return None
        return _info(row)

    def get(self, key_id: str) -> KeyInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(KEYS).where(KEYS.c.id == key_id)).first()
        return _info(row) if row is not None else None

    def list_keys(self, *, team: str | None = None, include_revoked: bool = False) -> list[KeyInfo]:
        query = select(KEYS).order_by(KEYS.c.created_at.desc())
        if team is not None:
            query = query.where(KEYS.c.team == team)
        if not include_revoked:
            query = query.where(KEYS.c.revoked_at.is_(None))
        with self.engine.connect() as conn:
            return [_info(row) for row in conn.execute(query)]

    def revoke(self, key_id: str) -> KeyInfo | None:
        """Revoke a key (idempotent); None if there is no such key."""
        with self.engine.begin() as conn:
            conn.execute(
                KEYS.update()
                .where(KEYS.c.id == key_id, KEYS.c.revoked_at.is_(None))
                .values(revoked_at=_now())
            )
        return self.get(key_id)
