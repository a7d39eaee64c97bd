"""Scores and score configs: written, corrected, listed and deleted through ``ScoreStore``.

A score targets a trace, a span, a session or an eval result row, and belongs to its target's
project. A name a config defines is checked against it (type, range, categories); scores a
person or an app writes (sources ``human`` and ``api``) must use a configured name, while
scorers (``online``, ``eval``) name their own and are typed by their value.

A correction supersedes, it never erases: a score may name the one it ``supersedes``, and a
person's (or a rule's) new score on the same target and name supersedes their earlier one.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    column,
    delete,
    func,
    select,
    table,
    tuple_,
    update,
)

from ._queries import QueryError
from ._queries import _decode_cursor as decode_cursor
from ._queries import _encode_cursor as encode_cursor
from ._records import SPANS, TRACES
from ._score_records import SCORE_CONFIGS, SCORES
from ._score_types import (
    NewScore,
    ScoreConfig,
    ScoreQuery,
    check_config,
    check_meta,
    config_of,
    is_hex,
    score_json,
    typed,
)
from ._shapes import span_json, trace_json
from .errors import (
    InvalidScoreError,
    ScoreForbiddenError,
    ScoreNotFoundError,
    ScoreTargetNotFound,
)

__all__ = ["ScoreStore", "score_facets", "score_trend", "scored_trace", "scored_traces"]


def _encode_cursor(created_ns: int, score_id: str) -> str:
    return encode_cursor([created_ns, score_id])


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        created, score_id = decode_cursor(cursor, int)
    except QueryError:
        raise InvalidScoreError("not a cursor this API returned", "cursor") from None
    return int(created), score_id


# The eval tables belong to ``evals``, which this package may not import: named, not modelled.
_EVAL_RESULTS = table("eval_results", column("run_id"), column("row_index"))
_EVAL_RUNS = table("eval_runs", column("id"), column("project"))


class ScoreStore:
    """Scores and score configs in the store (SQLite or PostgreSQL), through one engine."""

    def __init__(self, engine: Engine, *, clock: Any = time.time_ns) -> None:
        self.engine = engine
        self.clock = clock

    # -- configs --------------------------------------------------------------------------

    def put_config(self, config: ScoreConfig) -> tuple[ScoreConfig, bool]:
        """Create or update a project's config for a name; returns it and whether it is new.

        A config's type cannot change once scores of its name exist in its project: they
        would no longer read as what they were.
        """
        check_config(config)
        key = config.project or ""
        now = self.clock()
        values = {
            "data_type": config.data_type,
            "min_value": config.min_value,
            "max_value": config.max_value,
            "categories": list(config.categories) if config.categories is not None else None,
            "description": config.description,
            "archived": config.archived,
            "updated_ns": now,
        }
        c = SCORE_CONFIGS.c
        with self.engine.begin() as connection:
            old = connection.execute(
                select(SCORE_CONFIGS).where(c.project == key, c.name == config.name)
            ).first()
            if old is None:
                connection.execute(
                    SCORE_CONFIGS.insert().values(
                        project=key, name=config.name, created_ns=now, **values
                    )
                )
                return config, True
            if old.data_type != config.data_type and self._has_scores(
                connection, config.name, config.project
            ):
                raise InvalidScoreError(
                    f"score {config.name!r} is {old.data_type} and has scores; "
                    "archive it and create another name",
                    "data_type",
                )
            connection.execute(
                update(SCORE_CONFIGS)
                .where(c.project == key, c.name == config.name)
                .values(**values)
            )
        return config, False

    def _has_scores(self, connection: Connection, name: str, project: str | None) -> bool:
        s = SCORES.c
        query = select(s.id).where(
            s.name == name, s.project.is_(None) if project is None else (s.project == project)
        )
        return connection.execute(query.limit(1)).first() is not None

    def configs(self, project: str | None, *, archived: bool = False) -> list[ScoreConfig]:
        """The configs a project sees: its own, and those of no project it does not redefine."""
        c = SCORE_CONFIGS.c
        keys = ["", project] if project else [""]
        query = select(SCORE_CONFIGS).where(c.project.in_(keys))
        if not archived:
            query = query.where(c.archived.is_(False))
        with self.engine.connect() as connection:
            rows = connection.execute(query.order_by(c.name, c.project)).all()
        found: dict[str, ScoreConfig] = {}
        for row in rows:  # '' sorts first: the project's own config replaces the shared one
            found[row.name] = config_of(row)
        return list(found.values())

    def config(self, name: str, project: str | None) -> ScoreConfig | None:
        """The config of ``name`` a project sees (archived ones included), or None."""
        with self.engine.connect() as connection:
            return self._config(connection, name, project)

    def _config(self, connection: Connection, name: str, project: str | None) -> ScoreConfig | None:
        c = SCORE_CONFIGS.c
        keys = ["", project] if project else [""]
        rows = connection.execute(
            select(SCORE_CONFIGS).where(c.name == name, c.project.in_(keys))
        ).all()
        if not rows:
            return None
        return config_of(max(rows, key=lambda row: len(row.project)))

    def archive_config(self, name: str, project: str | None) -> None:
        """Archive a config: its scores stay; new ones by people and apps are refused."""
        c = SCORE_CONFIGS.c
        with self.engine.begin() as connection:
            done = connection.execute(
                update(SCORE_CONFIGS)
                .where(c.project == (project or ""), c.name == name)
                .values(archived=True, updated_ns=self.clock())
            )
        if done.rowcount == 0:
            raise ScoreNotFoundError(f"no score config {name!r}", "name")

    # -- scores ---------------------------------------------------------------------------

    def create(
        self,
        scores: Sequence[NewScore],
        *,
        project: str | None = None,
        author: str | None = None,
        batch: bool = False,
        connection: Connection | None = None,
    ) -> list[dict[str, Any]]:
        """Write scores, all or none; returns them as ``score_json`` shows them.

        Args:
            scores: the scores.
            project: the caller's project when it is confined to one: targets of another
                project are not found. None: any target; each score takes its target's.
            author: the key writing them.
            batch: name fields as ``scores[i].field`` in errors.
            connection: write in the caller's transaction (online evaluation writes a trace's
                scores and removes its job in one) instead of one of its own.

        Raises:
            InvalidScoreError: a wrong name, type, value, target or source.
            ScoreTargetNotFound: a target that does not exist (in ``project``).
        """
        if connection is None:
            with self.engine.begin() as own:
                return self.create(
                    scores, project=project, author=author, batch=batch, connection=own
                )
        now = self.clock()
        rows: list[dict[str, Any]] = []
        configs: dict[tuple[str, str | None], ScoreConfig | None] = {}
        # Batches (online evaluation writes hundreds of scores at once) look their traces and
        # the online scores they correct up in one query each, not one per score.
        known = self._trace_projects(connection, scores)
        current = self._current_online(connection, scores)
        corrected: list[dict[str, str]] = []
        for index, score in enumerate(scores):
            where = f"scores[{index}]." if batch else ""
            target, values = self._target(connection, score, project, where, known)
            owner = values["project"]
            if (score.name, owner) not in configs:
                configs[score.name, owner] = self._config(connection, score.name, owner)
            config = configs[score.name, owner]
            check_meta(score, config, where)
            kind, number, label = typed(score, config, where)
            row = {
                "id": uuid.uuid4().hex,
                "target": target,
                "name": score.name,
                "data_type": kind,
                "value": number,
                "label": label,
                "comment": score.comment,
                "source": score.source,
                "author": author,
                "user_id": score.user_id,
                "scorer": score.scorer,
                "error": score.error,
                "metadata": score.metadata or {},
                "created_ns": now + index,  # keeps a batch's order in listings
                "supersedes": None,
                "superseded_by": None,
                **values,
            }
            key = (row["trace_id"], row["name"], row["scorer"])
            if score.supersedes is None and current is not None and key in current:
                row["supersedes"] = current[key]
                current[key] = row["id"]
                if row["supersedes"] is not None:
                    corrected.append({"old": row["supersedes"], "new": row["id"]})
            else:
                row["supersedes"] = self._supersede(connection, row, score.supersedes, where)
            rows.append(row)
        if rows:
            connection.execute(SCORES.insert(), rows)
        if corrected:
            connection.execute(
                update(SCORES)
                .where(SCORES.c.id == bindparam("old"))
                .values(superseded_by=bindparam("new")),
                corrected,
            )
        return [score_json(row) for row in rows]

    @staticmethod
    def _trace_projects(
        connection: Connection, scores: Sequence[NewScore]
    ) -> dict[str, str | None] | None:
        """The projects of the traces a batch scores (those found), or None for one score."""
        ids = list(
            {s.trace_id.lower() for s in scores if s.trace_id is not None and s.span_id is None}
        )
        if len(scores) < 2 or not ids:
            return None
        found: dict[str, str | None] = {}
        for start in range(0, len(ids), 500):
            query = select(TRACES.c.trace_id, TRACES.c.project).where(
                TRACES.c.trace_id.in_(ids[start : start + 500])
            )
            found.update((row.trace_id, row.project) for row in connection.execute(query))
        return found

    @staticmethod
    def _current_online(
        connection: Connection, scores: Sequence[NewScore]
    ) -> dict[tuple[str | None, str, str | None], str | None] | None:
        """For a batch of a rule's trace scores: the current ones they correct, by (trace,
        name, rule); None when the batch is not that (each score then looks for its own)."""
        if len(scores) < 2 or any(
            s.source != "online"
            or s.scorer is None
            or s.span_id is not None
            or s.trace_id is None
            or s.supersedes is not None
            for s in scores
        ):
            return None
        s = SCORES.c
        ids = list({score.trace_id.lower() for score in scores if score.trace_id})
        current: dict[tuple[str | None, str, str | None], str | None] = {
            (score.trace_id.lower() if score.trace_id else None, score.name, score.scorer): None
            for score in scores
        }
        for start in range(0, len(ids), 500):
            query = select(s.id, s.trace_id, s.name, s.scorer).where(
                s.trace_id.in_(ids[start : start + 500]),
                s.span_id.is_(None),
                s.source == "online",
                s.superseded_by.is_(None),
            )
            for row in connection.execute(query):
                key = (row.trace_id, row.name, row.scorer)
                if key in current:
                    current[key] = row.id
        return current

    def _target(
        self,
        connection: Connection,
        score: NewScore,
        project: str | None,
        where: str,
        known: dict[str, str | None] | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """The target's kind and the score's target columns with its project, or raise."""
        named = [
            n
            for n, v in (
                ("trace_id", score.trace_id),
                ("session_id", score.session_id),
                ("run_id", score.run_id),
            )
            if v is not None
        ]
        if len(named) != 1:
            raise InvalidScoreError(
                "name exactly one target: trace_id (and span_id), session_id, or run_id "
                "(and row_index)",
                f"{where}{named[1] if len(named) > 1 else 'trace_id'}",
            )
        values: dict[str, Any] = {
            "trace_id": None,
            "span_id": None,
            "session_id": None,
            "run_id": None,
            "row_index": None,
        }
        if score.span_id is not None and score.trace_id is None:
            raise InvalidScoreError("a span is named with its trace_id", f"{where}trace_id")
        if score.row_index is not None and score.run_id is None:
            raise InvalidScoreError("an eval row is named with its run_id", f"{where}run_id")
        found: Any
        if score.trace_id is not None:
            trace_id = score.trace_id.lower()
            if not is_hex(trace_id, 32):
                raise InvalidScoreError("expected 32 hexadecimal characters", f"{where}trace_id")
            values["trace_id"] = trace_id
            if score.span_id is None:
                kind = "trace"
                if known is not None:
                    found = (known[trace_id],) if trace_id in known else None
                else:
                    found = connection.execute(
                        select(TRACES.c.project).where(TRACES.c.trace_id == trace_id)
                    ).first()
                missing = f"no trace {trace_id}"
            else:
                span_id = score.span_id.lower()
                if not is_hex(span_id, 16):
                    raise InvalidScoreError("expected 16 hexadecimal characters", f"{where}span_id")
                values["span_id"] = span_id
                kind = "span"
                found = connection.execute(
                    select(SPANS.c.project).where(
                        SPANS.c.trace_id == trace_id, SPANS.c.span_id == span_id
                    )
                ).first()
                missing = f"no span {span_id} in trace {trace_id}"
            field_name = "trace_id" if kind == "trace" else "span_id"
        elif score.session_id is not None:
            kind, field_name = "session", "session_id"
            values["session_id"] = score.session_id
            query = select(TRACES.c.project).where(TRACES.c.session_id == score.session_id)
            if project is not None:
                query = query.where(TRACES.c.project == project)
            found = connection.execute(query.limit(1)).first()
            missing = f"no session {score.session_id}"
        else:
            kind, field_name = "eval_row", "run_id"
            if score.row_index is None:
                raise InvalidScoreError(
                    "an eval row is named by run_id and row_index", f"{where}row_index"
                )
            values["run_id"], values["row_index"] = score.run_id, score.row_index
            found = connection.execute(
                select(_EVAL_RUNS.c.project)
                .select_from(
                    _EVAL_RESULTS.join(_EVAL_RUNS, _EVAL_RUNS.c.id == _EVAL_RESULTS.c.run_id)
                )
                .where(
                    _EVAL_RESULTS.c.run_id == score.run_id,
                    _EVAL_RESULTS.c.row_index == score.row_index,
                )
                .limit(1)
            ).first()
            missing = f"no row {score.row_index} in eval run {score.run_id}"
        if found is None or (project is not None and found[0] != project):
            raise ScoreTargetNotFound(missing, f"{where}{field_name}")
        values["project"] = found[0]
        return kind, values

    def _supersede(
        self, connection: Connection, row: dict[str, Any], named: str | None, where: str
    ) -> str | None:
        """Mark the score this one corrects; returns its id (None: it corrects none).

        The one corrected is ``named`` when given (same target and name required), else the
        same author's current score of this name on this target (for a person), or the same
        rule's (for an online rule) — scores from apps and evals accumulate.
        """
        s = SCORES.c
        same_target = and_(
            s.name == row["name"],
            s.target == row["target"],
            *(
                s[name].is_(None) if row[name] is None else s[name] == row[name]
                for name in ("trace_id", "span_id", "session_id", "run_id", "row_index")
            ),
        )
        if named is not None:
            old = connection.execute(
                select(s.id, s.superseded_by).where(s.id == named, same_target)
            ).first()
            if old is None:
                raise InvalidScoreError(
                    "no score of this name on this target to correct", f"{where}supersedes"
                )
            if old.superseded_by is not None:
                raise InvalidScoreError(
                    f"score {named} was already corrected by {old.superseded_by}",
                    f"{where}supersedes",
                )
            old_id: str | None = old.id
        elif row["source"] == "human" and row["author"] is not None:
            old_id = connection.execute(
                select(s.id).where(
                    same_target,
                    s.source == "human",
                    s.author == row["author"],
                    s.superseded_by.is_(None),
                )
            ).scalar()
        elif row["source"] == "online" and row["scorer"] is not None:
            old_id = connection.execute(
                select(s.id).where(
                    same_target,
                    s.source == "online",
                    s.scorer == row["scorer"],
                    s.superseded_by.is_(None),
                )
            ).scalar()
        else:
            old_id = None
        if old_id is not None:
            connection.execute(update(SCORES).where(s.id == old_id).values(superseded_by=row["id"]))
        return old_id

    def get(self, score_id: str, *, project: str | None = None) -> dict[str, Any]:
        """One score (superseded or not); ScoreNotFoundError when not (in ``project``)."""
        with self.engine.connect() as connection:
            row = connection.execute(select(SCORES).where(SCORES.c.id == score_id)).first()
        if row is None or (project is not None and row.project != project):
            raise ScoreNotFoundError(f"no score {score_id}", "score_id")
        return score_json(dict(row._mapping))

    def find(
        self, query: ScoreQuery, *, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of scores, newest first, and the next page's cursor."""
        if not 1 <= limit <= 10_000:
            raise InvalidScoreError("expected 1 to 10000", "limit")
        s = SCORES.c
        conditions: list[Any] = []
        for column_name, value in (
            ("project", query.project),
            ("target", query.target),
            ("trace_id", query.trace_id.lower() if query.trace_id else None),
            ("span_id", query.span_id.lower() if query.span_id else None),
            ("session_id", query.session_id),
            ("run_id", query.run_id),
            ("name", query.name),
            ("source", query.source),
            ("author", query.author),
            ("scorer", query.scorer),
            ("label", query.label),
        ):
            if value is not None:
                conditions.append(s[column_name] == value)
        if query.min_value is not None:
            conditions.append(s.value >= query.min_value)
        if query.max_value is not None:
            conditions.append(s.value <= query.max_value)
        if query.since_ns is not None:
            conditions.append(s.created_ns >= query.since_ns)
        if query.until_ns is not None:
            conditions.append(s.created_ns < query.until_ns)
        if not query.history:
            conditions.append(s.superseded_by.is_(None))
        statement = select(SCORES).where(*conditions)
        if cursor:
            created, score_id = _decode_cursor(cursor)
            statement = statement.where(tuple_(s.created_ns, s.id) < tuple_(created, score_id))
        statement = statement.order_by(s.created_ns.desc(), s.id.desc()).limit(limit + 1)
        with self.engine.connect() as connection:
            rows = [dict(row._mapping) for row in connection.execute(statement)]
        after = None
        if len(rows) > limit:
            rows = rows[:limit]
            after = _encode_cursor(rows[-1]["created_ns"], rows[-1]["id"])
        return [score_json(row) for row in rows], after

    def for_traces(self, trace_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """The current scores of these traces themselves (not their spans'), by trace id."""
        ids = list(trace_ids)
        found: dict[str, list[dict[str, Any]]] = {trace_id: [] for trace_id in ids}
        if not ids:
            return found
        s = SCORES.c
        statement = select(SCORES).where(
            s.trace_id.in_(ids), s.span_id.is_(None), s.superseded_by.is_(None)
        )
        with self.engine.connect() as connection:
            for row in connection.execute(statement.order_by(s.created_ns)):
                found[row.trace_id].append(score_json(dict(row._mapping)))
        return found

    def for_spans(self, trace_id: str, span_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """The current scores of these spans of one trace, by span id.

        Looked up by (trace, span), so a trace whose 50,000 spans are all scored costs what
        its page of spans costs, not all of its scores.
        """
        ids = list(span_ids)
        found: dict[str, list[dict[str, Any]]] = {span_id: [] for span_id in ids}
        s = SCORES.c
        with self.engine.connect() as connection:
            for start in range(0, len(ids), 500):
                statement = select(SCORES).where(
                    s.trace_id == trace_id,
                    s.span_id.in_(ids[start : start + 500]),
                    s.superseded_by.is_(None),
                )
                for row in connection.execute(statement.order_by(s.created_ns)):
                    found[row.span_id].append(score_json(dict(row._mapping)))
        return found

    def delete(
        self, score_id: str, *, author: str | None, admin: bool, project: str | None
    ) -> None:
        """Delete a score (its author or an admin); the score it corrected is current again."""
        s = SCORES.c
        with self.engine.begin() as connection:
            row = connection.execute(select(s.author, s.project).where(s.id == score_id)).first()
            if row is None or (project is not None and row.project != project):
                raise ScoreNotFoundError(f"no score {score_id}", "score_id")
            if not admin and (author is None or row.author != author):
                raise ScoreForbiddenError("only its author or an admin may delete a score")
            connection.execute(
                update(SCORES).where(s.superseded_by == score_id).values(superseded_by=None)
            )
            connection.execute(delete(SCORES).where(s.id == score_id))


_BRIEF = ("id", "name", "data_type", "value", "source", "span_id")


def scored_traces(engine: Engine, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Trace summaries as the trace list shows them: each with its own current scores, in
    brief (its spans' are filtered on, not listed: a trace may have thousands)."""
    found = ScoreStore(engine).for_traces(row["trace_id"] for row in rows)
    return [
        trace_json(row) | {"scores": [{k: s[k] for k in _BRIEF} for s in found[row["trace_id"]]]}
        for row in rows
    ]


def scored_trace(
    engine: Engine, summary: dict[str, Any], spans: Sequence[dict[str, Any]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A trace's summary and a page of its spans as its detail shows them: each with its
    current scores, whole."""
    trace_id = summary["trace_id"]
    store = ScoreStore(engine)
    on_spans = store.for_spans(trace_id, [span["span_id"] for span in spans])
    shown = [span_json(span) | {"scores": on_spans[span["span_id"]]} for span in spans]
    return trace_json(summary) | {"scores": store.for_traces([trace_id])[trace_id]}, shown


def score_facets(
    engine: Engine, start_ns: int | None, top: int, project: str | None = None
) -> list[dict[str, Any]]:
    """The score names most traces since ``start_ns`` have (on them or their spans), with
    how many traces have each: the trace list's "Scores" facet."""
    s = SCORES.c
    traces = func.count(s.trace_id.distinct()).label("count")
    query = select(s.name.label("value"), traces).where(
        s.superseded_by.is_(None),
        s.trace_id.is_not(None),
        (s.value.is_not(None)) | (s.label.is_not(None)),
    )
    if start_ns is not None:
        started = select(TRACES.c.trace_id).where(TRACES.c.start_ns >= start_ns)
        query = query.where(s.trace_id.in_(started))
    if project is not None:
        query = query.where(s.project == project)
    query = query.group_by(s.name).order_by(traces.desc(), s.name).limit(top)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def score_trend(
    engine: Engine,
    *,
    start_ns: int,
    end_ns: int,
    bucket_seconds: int,
    group_by: str = "none",
    name: str | None = None,
    project: str | None = None,
) -> list[dict[str, Any]]:
    """Each score's mean per time bucket (of its trace's start), optionally per prompt version
    or model: ``[{name, bucket_start_ns, group, mean, count}]``. Trace-level and span-level
    current scores with a value count; a scorer's failures do not."""
    if group_by not in ("none", "prompt", "model"):
        raise ValueError("group_by: expected none, prompt or model")
    s, t = SCORES.c, TRACES.c
    step = bucket_seconds * 10**9
    if bucket_seconds < 1 or (end_ns - start_ns) / step > 10_000:
        raise ValueError("bucket: at least 1 second, and at most 10000 buckets in the range")
    bucket = (t.start_ns - start_ns) // step  # integer division on both databases
    group = {"prompt": t.prompt, "model": t.model}.get(group_by)
    columns = [
        s.name,
        bucket.label("bucket"),
        func.avg(s.value).label("mean"),
        func.count().label("count"),
    ]
    if group is not None:
        columns.append(group.label("group"))
    query = (
        select(*columns)
        .select_from(SCORES.join(TRACES, t.trace_id == s.trace_id))
        .where(
            s.superseded_by.is_(None),
            s.value.is_not(None),
            t.start_ns >= start_ns,
            t.start_ns < end_ns,
        )
        .group_by(s.name, bucket, *([group] if group is not None else []))
        .order_by(s.name, bucket)
    )
    if name is not None:
        query = query.where(s.name == name)
    if project is not None:
        query = query.where(s.project == project)
    with engine.connect() as connection:
        return [
            {
                "name": row.name,
                "bucket_start_ns": start_ns + int(row[1]) * step,
                "group": getattr(row, "group", None) if group is not None else None,
                "mean": float(row.mean),
                "count": int(row[3]),
            }
            for row in connection.execute(query)
        ]
