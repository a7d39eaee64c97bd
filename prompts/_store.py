"""The registry store: prompts, versions and labels in SQL (SQLite or PostgreSQL).

Every call works in one project's namespace (``project=``; None: the prompts of no project),
and a name is unique within its project: two teams may each have ``summarize``.

Version numbers are allocated under a per-prompt write lock (``BEGIN IMMEDIATE`` on SQLite,
``SELECT ... FOR UPDATE`` on the prompt's row on PostgreSQL), so concurrent pushes get
distinct numbers; the primary key backs that up and a push that still collides retries.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import orjson
import yaml
from sqlalchemy import Connection, Engine, Table, and_, func, or_, select, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError

from ._model import (
    LATEST,
    PromptRef,
    PromptSummary,
    PromptVersion,
    check_label,
    check_name,
    content_hash,
    parse_ref,
)
from ._records import LabelEventRecord, LabelRecord, PromptRecord, PromptVersionRecord
from ._template import Engine as TemplateEngine
from ._template import Template, TemplateBody
from .errors import InvalidPromptError, PromptExistsError, PromptNotFoundError

__all__ = ["LabelEvent", "ProjectPrompts", "PromptStore"]

PROMPTS = cast(Table, PromptRecord.__table__)  # type: ignore[attr-defined]
VERSIONS = cast(Table, PromptVersionRecord.__table__)  # type: ignore[attr-defined]
LABELS = cast(Table, LabelRecord.__table__)  # type: ignore[attr-defined]
EVENTS = cast(Table, LabelEventRecord.__table__)  # type: ignore[attr-defined]

_RETRIES = 20
_MODEL_KEYS_MAX = 64


def _now() -> datetime:
    return datetime.now(UTC)


def _space(project: str | None) -> str:
    """The ``prompts.project`` value of a namespace: '' is the prompts of no project."""
    return project or ""


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


LabelEvent = dict[str, Any]


class PromptStore:
    """Reads and writes the registry through one SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    def in_project(self, project: str | None) -> ProjectPrompts:
        """What code that only loads prompts by reference (evals) is given: this store's
        ``get`` in one project."""
        return ProjectPrompts(self, project)

    # -- writing ---------------------------------------------------------------------------

    def create(
        self,
        name: str,
        *,
        description: str | None = None,
        tags: Sequence[str] = (),
        project: str | None = None,
    ) -> PromptSummary:
        """Create an empty prompt in ``project``.

        Raises:
            PromptExistsError: the name is taken.
        """
        check_name(name)
        tags = _check_tags(tags)
        now = _now()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    PROMPTS.insert().values(
                        name=name,
                        project=_space(project),
                        description=description,
                        tags=tags,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise PromptExistsError(f"prompt {name!r} exists already", field="name") from None
        return self.summary(name, project=project)

    def update(
        self,
        name: str,
        *,
        description: str | None = None,
        tags: Sequence[str] | None = None,
        project: str | None = None,
    ) -> PromptSummary:
        """Change a prompt's description and/or tags (its versions never change)."""
        values: dict[str, Any] = {"updated_at": _now()}
        if description is not None:
            values["description"] = description
        if tags is not None:
            values["tags"] = _check_tags(tags)
        with self.engine.begin() as conn:
            done = conn.execute(PROMPTS.update().where(*_named(name, project)).values(**values))
        if done.rowcount == 0:
            raise PromptNotFoundError(f"no prompt named {name!r}", field="name")
        return self.summary(name, project=project)

    def push(
        self,
        name: str,
        template: TemplateBody,
        *,
        engine: TemplateEngine = "mustache",
        model_config: Mapping[str, Any] | None = None,
        tools: list[dict[str, Any]] | None = None,
        response_format: dict[str, Any] | None = None,
        message: str | None = None,
        author: str | None = None,
        labels: Sequence[str] = (),
        description: str | None = None,
        tags: Sequence[str] | None = None,
        project: str | None = None,
    ) -> tuple[PromptVersion, bool]:
        """Add a version (creating the prompt on its first push) and point ``labels`` at it.

        A template identical to the latest version's (same text, engine, model config, tools
        and response format) adds no version: the latest is returned with ``False``, and the
        labels still move to it. So pushing from CI on every commit is idempotent.

        Returns:
            The version, and whether it is new.

        Raises:
            InvalidPromptError: the name, template or a label is malformed (named).
        """
        check_name(name)
        parsed = Template(template, engine)  # validates, and finds the variables
        parsed.refuse_other_syntax()
        config = _check_model_config(model_config)
        for label in labels:
            _settable(label)
        if tools is not None and not isinstance(tools, list):
            raise InvalidPromptError("tools: expected a list of tool definitions", field="tools")
        if response_format is not None and not isinstance(response_format, dict):
            raise InvalidPromptError("response_format: expected an object", "response_format")
        digest = content_hash(template, engine, config, tools, response_format)
        for attempt in range(_RETRIES):
            try:
                with self.engine.begin() as conn:
                    prompt_id = self._lock_prompt(conn, name, project, description, tags)
                    latest = conn.execute(
                        select(VERSIONS.c.version, VERSIONS.c.content_hash)
                        .where(VERSIONS.c.prompt_id == prompt_id)
                        .order_by(VERSIONS.c.version.desc())
                        .limit(1)
                    ).first()
                    created = latest is None or latest.content_hash != digest
                    if created:
                        number = (latest.version if latest else 0) + 1
                        conn.execute(
                            VERSIONS.insert().values(
                                prompt_id=prompt_id,
                                version=number,
                                engine=engine,
                                template=template,
                                variables=list(parsed.variables),
                                model_config=config,
                                tools=tools,
                                response_format=response_format,
                                message=message,
                                author=author,
                                content_hash=digest,
                                created_at=_now(),
                            )
                        )
                        conn.execute(
                            PROMPTS.update()
                            .where(PROMPTS.c.id == prompt_id)
                            .values(updated_at=_now())
                        )
                    else:
                        assert latest is not None
                        number = latest.version
                    for label in labels:
                        self._move_label(conn, prompt_id, label, number, author)
                return self.get(PromptRef(name, version=number), project=project), created
            except (IntegrityError, OperationalError) as exc:
                # Two writers allocated the same number (PostgreSQL), or SQLite refused a
                # lock upgrade: take the lock again and recount.
                if attempt == _RETRIES - 1 or not _retryable(exc):
                    raise
                time.sleep(0.005 * (attempt + 1))
        raise AssertionError("unreachable")

    def _lock_prompt(
        self,
        conn: Connection,
        name: str,
        project: str | None,
        description: str | None,
        tags: Sequence[str] | None,
    ) -> int:
        """Create the prompt if new, lock it for this transaction, and return its id."""
        if not self.postgres:
            driver = conn.connection.driver_connection
            if not driver.in_transaction:  # type: ignore[union-attr]
                conn.exec_driver_sql("BEGIN IMMEDIATE")
        now = _now()
        insert = pg_insert if self.postgres else sqlite_insert
        conn.execute(
            insert(PROMPTS)
            .values(
                name=name,
                project=_space(project),
                description=description,
                tags=_check_tags(tags or ()),
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["project", "name"])
        )
        query = select(PROMPTS.c.id).where(*_named(name, project))
        if self.postgres:
            query = query.with_for_update()
        prompt_id = conn.execute(query).scalar_one()
        changes: dict[str, Any] = {}
        if description is not None:
            changes["description"] = description
        if tags is not None:
            changes["tags"] = _check_tags(tags)
        if changes:
            conn.execute(PROMPTS.update().where(PROMPTS.c.id == prompt_id).values(**changes))
        return int(prompt_id)

    def set_label(
        self,
        name: str,
        label: str,
        version: int,
        *,
        actor: str | None = None,
        project: str | None = None,
    ) -> None:
        """Point ``label`` at ``version`` (moving it if it points elsewhere), kept in history.

        Raises:
            PromptNotFoundError: no such prompt or version.
            InvalidPromptError: the label is malformed, or is ``latest`` (which moves itself).
        """
        _settable(label)
        with self.engine.begin() as conn:
            prompt_id = self._prompt_id(conn, name, project)
            exists = conn.execute(
                select(VERSIONS.c.version).where(
                    VERSIONS.c.prompt_id == prompt_id, VERSIONS.c.version == version
                )
            ).first()
            if exists is None:
                raise PromptNotFoundError(f"{name!r} has no version {version}", field="version")
            self._move_label(conn, prompt_id, label, version, actor)

    def delete_label(
        self, name: str, label: str, *, actor: str | None = None, project: str | None = None
    ) -> None:
        """Remove a label (kept in history as a move to nothing)."""
        _settable(label)
        with self.engine.begin() as conn:
            prompt_id = self._prompt_id(conn, name, project)
            current = conn.execute(
                select(LABELS.c.version).where(
                    LABELS.c.prompt_id == prompt_id, LABELS.c.label == label
                )
            ).scalar()
            if current is None:
                raise PromptNotFoundError(f"{name!r} has no label {label!r}", field="label")
            conn.execute(
                LABELS.delete().where(LABELS.c.prompt_id == prompt_id, LABELS.c.label == label)
            )
            _record_move(conn, prompt_id, label, current, None, actor, _now())

    def _move_label(
        self, conn: Connection, prompt_id: int, label: str, version: int, actor: str | None
    ) -> None:
        current = conn.execute(
            select(LABELS.c.version).where(LABELS.c.prompt_id == prompt_id, LABELS.c.label == label)
        ).scalar()
        if current == version:
            return
        now = _now()
        if current is None:
            conn.execute(
                LABELS.insert().values(
                    prompt_id=prompt_id,
                    label=label,
                    version=version,
                    updated_by=actor,
                    updated_at=now,
                )
            )
        else:
            conn.execute(
                LABELS.update()
                .where(LABELS.c.prompt_id == prompt_id, LABELS.c.label == label)
                .values(version=version, updated_by=actor, updated_at=now)
            )
        _record_move(conn, prompt_id, label, current, version, actor, now)

    # -- reading ---------------------------------------------------------------------------

    def _prompt_id(self, conn: Connection, name: str, project: str | None) -> int:
        found = conn.execute(select(PROMPTS.c.id).where(*_named(name, project))).scalar()
        if found is None:
            raise PromptNotFoundError(f"no prompt named {name!r}", field="name")
        return int(found)

    def get(self, ref: str | PromptRef, *, project: str | None = None) -> PromptVersion:
        """The version a reference names: ``name`` (latest), ``name@label`` or ``name/N``,
        among ``project``'s prompts.

        Raises:
            InvalidPromptError: the reference is malformed.
            PromptNotFoundError: no such prompt, label or version (the message says which).
        """
        ref = parse_ref(ref) if isinstance(ref, str) else ref
        with self.engine.connect() as conn:
            prompt_id = self._prompt_id(conn, ref.name, project)
            version = ref.version
            if version is None and ref.label not in (None, LATEST):
                version = conn.execute(
                    select(LABELS.c.version).where(
                        LABELS.c.prompt_id == prompt_id, LABELS.c.label == ref.label
                    )
                ).scalar()
                if version is None:
                    raise PromptNotFoundError(
                        f"prompt {ref.name!r} has no label {ref.label!r}", field="label"
                    )
            query = select(VERSIONS).where(VERSIONS.c.prompt_id == prompt_id)
            if version is None:
                query = query.order_by(VERSIONS.c.version.desc()).limit(1)
            else:
                query = query.where(VERSIONS.c.version == version)
            row = conn.execute(query).first()
            if row is None:
                what = f"version {version}" if version is not None else "versions yet"
                raise PromptNotFoundError(f"prompt {ref.name!r} has no {what}", field="version")
            labels = self._labels(conn, prompt_id)
        return _version(ref.name, row, labels)

    def _labels(self, conn: Connection, prompt_id: int) -> dict[int, list[str]]:
        by_version: dict[int, list[str]] = {}
        for label, version in conn.execute(
            select(LABELS.c.label, LABELS.c.version)
            .where(LABELS.c.prompt_id == prompt_id)
            .order_by(LABELS.c.label)
        ):
            by_version.setdefault(version, []).append(label)
        latest = conn.execute(
            select(func.max(VERSIONS.c.version)).where(VERSIONS.c.prompt_id == prompt_id)
        ).scalar()
        if latest is not None:
            by_version.setdefault(latest, []).insert(0, LATEST)
        return by_version

    def versions(self, name: str, *, project: str | None = None) -> list[PromptVersion]:
        """Every version of a prompt, newest first."""
        with self.engine.connect() as conn:
            prompt_id = self._prompt_id(conn, name, project)
            labels = self._labels(conn, prompt_id)
            rows = conn.execute(
                select(VERSIONS)
                .where(VERSIONS.c.prompt_id == prompt_id)
                .order_by(VERSIONS.c.version.desc())
            ).all()
        return [_version(name, row, labels) for row in rows]

    def summary(self, name: str, *, project: str | None = None) -> PromptSummary:
        found = self.list_prompts(name=name, limit=1, project=project)[0]
        if not found or found[0].name != name:
            raise PromptNotFoundError(f"no prompt named {name!r}", field="name")
        return found[0]

    def list_prompts(
        self,
        *,
        query: str | None = None,
        tag: str | None = None,
        name: str | None = None,
        limit: int = 50,
        after: str | None = None,
        project: str | None = None,
    ) -> tuple[list[PromptSummary], str | None]:
        """``project``'s prompts by name, filtered by a search term (name or description) and
        a tag.

        Keyset-paged: pass the returned cursor (the last name) as ``after``.
        """
        where = [PROMPTS.c.project == _space(project)]
        if name is not None:
            where.append(PROMPTS.c.name == name)
        if query:
            pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern += "%"
            where.append(
                or_(
                    PROMPTS.c.name.ilike(pattern, escape="\\"),
                    PROMPTS.c.description.ilike(pattern, escape="\\"),
                )
            )
        if after is not None:
            where.append(PROMPTS.c.name > after)
        latest = (
            select(func.max(VERSIONS.c.version))
            .where(VERSIONS.c.prompt_id == PROMPTS.c.id)
            .scalar_subquery()
        )
        sql = (
            select(PROMPTS, latest.label("latest"))
            .where(and_(true(), *where))
            .order_by(PROMPTS.c.name)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(sql).all() if tag else conn.execute(sql.limit(limit + 1)).all()
            if tag:  # tags are a small JSON list: filtered here, the same on both databases
                rows = [r for r in rows if tag in (r.tags or [])][: limit + 1]
            ids = [r.id for r in rows[:limit]]
            labels: dict[int, dict[str, int]] = {}
            if ids:
                for prompt_id, label, version in conn.execute(
                    select(LABELS.c.prompt_id, LABELS.c.label, LABELS.c.version)
                    .where(LABELS.c.prompt_id.in_(ids))
                    .order_by(LABELS.c.label)
                ):
                    labels.setdefault(prompt_id, {})[label] = version
        summaries = [
            PromptSummary(
                name=r.name,
                description=r.description,
                tags=tuple(r.tags or ()),
                latest_version=r.latest,
                labels=labels.get(r.id, {}),
                created_at=_utc(r.created_at),
                updated_at=_utc(r.updated_at),
            )
            for r in rows[:limit]
        ]
        cursor = summaries[-1].name if len(rows) > limit else None
        return summaries, cursor

    def history(
        self, name: str, label: str | None = None, *, project: str | None = None
    ) -> list[LabelEvent]:
        """Label moves, newest first: label, from_version, to_version, actor, at."""
        with self.engine.connect() as conn:
            prompt_id = self._prompt_id(conn, name, project)
            query = select(EVENTS).where(EVENTS.c.prompt_id == prompt_id)
            if label is not None:
                query = query.where(EVENTS.c.label == label)
            rows = conn.execute(query.order_by(EVENTS.c.id.desc())).all()
        return [
            {
                "label": r.label,
                "from_version": r.from_version,
                "to_version": r.to_version,
                "actor": r.actor,
                "at": _utc(r.at).isoformat(),
            }
            for r in rows
        ]

    def diff(self, name: str, a: str | int, b: str | int, *, project: str | None = None) -> str:
        """A unified diff of two versions (numbers or labels): template, then model config."""
        old = self.get(_ref_in(name, a), project=project)
        new = self.get(_ref_in(name, b), project=project)
        return "".join(
            difflib.unified_diff(
                describe(old).splitlines(keepends=True),
                describe(new).splitlines(keepends=True),
                fromfile=old.ref,
                tofile=new.ref,
            )
        )


def _named(name: str, project: str | None) -> tuple[Any, Any]:
    """The conditions that find one prompt: its name in its project."""
    return PROMPTS.c.project == _space(project), PROMPTS.c.name == name


def _record_move(
    conn: Connection,
    prompt_id: int,
    label: str,
    from_version: int | None,
    to_version: int | None,
    actor: str | None,
    at: datetime,
) -> None:
    """Keep a label move in the history (``None``: the label was created / removed)."""
    conn.execute(
        EVENTS.insert().values(
            prompt_id=prompt_id,
            label=label,
            from_version=from_version,
            to_version=to_version,
            actor=actor,
            at=at,
        )
    )


def _ref_in(name: str, which: str | int) -> PromptRef:
    if isinstance(which, int) or (str(which).isascii() and str(which).isdigit()):
        return PromptRef(name, version=int(which))
    return PromptRef(name, label=check_label(which, "version"))


def describe(version: PromptVersion) -> str:
    """A version as text for diffs: the template, then the rest as YAML."""
    if isinstance(version.template, str):
        body = version.template
    else:
        parts = []
        for message in version.template:
            content = message.get("content")
            text = content if isinstance(content, str) else orjson.dumps(content).decode()
            parts.append(f"[{message.get('role')}]\n{text}")
        body = "\n\n".join(parts)
    extra: dict[str, Any] = {"engine": version.engine}
    if version.model_config:
        extra["model_config"] = version.model_config
    if version.tools:
        extra["tools"] = version.tools
    if version.response_format:
        extra["response_format"] = version.response_format
    tail = yaml.safe_dump(extra, sort_keys=True, allow_unicode=True)
    return f"{body.rstrip()}\n\n---\n{tail}"


def _version(name: str, row: Any, labels: Mapping[int, Sequence[str]]) -> PromptVersion:
    return PromptVersion(
        name=name,
        version=row.version,
        template=row.template,
        engine=row.engine,
        model_config=dict(row.model_config or {}),
        tools=row.tools,
        response_format=row.response_format,
        message=row.message,
        author=row.author,
        created_at=_utc(row.created_at),
        labels=tuple(labels.get(row.version, ())),
    )


def _settable(label: str) -> str:
    check_label(label)
    if label == LATEST:
        raise InvalidPromptError("label: 'latest' always points at the newest version", "label")
    return label


def _check_tags(tags: Iterable[str]) -> list[str]:
    out = []
    for tag in tags:
        if not isinstance(tag, str) or not tag or len(tag) > 64:
            raise InvalidPromptError(f"tags: {tag!r} is not a tag (1-64 characters)", "tags")
        out.append(tag)
    return out


def _check_model_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise InvalidPromptError("model_config: expected an object", field="model_config")
    if len(config) > _MODEL_KEYS_MAX:
        raise InvalidPromptError("model_config: too many keys", field="model_config")
    model = config.get("model")
    if model is not None and not isinstance(model, str):
        raise InvalidPromptError("model_config.model: expected a model name", "model_config.model")
    return dict(config)


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    text = str(exc).lower()
    return "locked" in text or "busy" in text or "deadlock" in text


class ProjectPrompts:
    """One project's prompts, read by reference: ``get("name@label")``."""

    def __init__(self, store: PromptStore, project: str | None) -> None:
        self.store = store
        self.project = project

    def get(self, ref: str | PromptRef) -> PromptVersion:
        """The version ``ref`` names in this project (see ``PromptStore.get``)."""
        return self.store.get(ref, project=self.project)
