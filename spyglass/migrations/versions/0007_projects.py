"""Projects: traces, spans, prompts and eval runs belong to a project.

Traces and spans get a nullable ``project`` (from ``spyglass.project``), traces an index
``(project, start_ns)`` for the project-scoped trace list. Eval runs get a nullable
``project``. Rows written before this revision keep ``NULL``: no project.

Prompt names become unique per project: ``prompts.project`` is ``''`` for the unscoped
namespace (not NULL, because NULLs are distinct in a unique index on both databases, and the
push's ``ON CONFLICT (project, name)`` needs a plain column list). On PostgreSQL the old
unique constraint on ``name`` is dropped. SQLite cannot drop a constraint, so the prompt
tables are rebuilt: with ``foreign_keys=ON`` (which cannot be turned off inside the
migration's transaction) dropping ``prompts`` would cascade into its versions and labels, so
those are copied aside and dropped first, then restored. Everything runs in one transaction.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_CHILDREN = ("prompt_versions", "prompt_labels", "prompt_label_events")
_PROMPT_COLUMNS = "id, name, description, tags, created_at, updated_at"


def upgrade() -> None:
    for table in ("traces", "spans"):
        op.add_column(table, sa.Column("project", sa.String(length=200), nullable=True))
    op.create_index("ix_traces_project_start", "traces", ["project", "start_ns"])
    op.add_column("eval_runs", sa.Column("project", sa.String(length=200), nullable=True))
    op.create_index("ix_eval_runs_project", "eval_runs", ["project", "created_at"])
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_prompts_sqlite(with_project=True)
    else:
        op.add_column(
            "prompts",
            sa.Column("project", sa.String(length=200), nullable=False, server_default=""),
        )
        for name in _unique_constraints_on_name():
            op.drop_constraint(name, "prompts", type_="unique")
        op.create_index("ux_prompts_project_name", "prompts", ["project", "name"], unique=True)


def downgrade() -> None:
    clashes = (
        op.get_bind()
        .execute(sa.text("SELECT name FROM prompts GROUP BY name HAVING count(*) > 1"))
        .scalars()
        .all()
    )
    if clashes:
        raise RuntimeError(
            "cannot downgrade below 0007: these prompt names exist in several projects, and "
            f"before 0007 a name was unique: {', '.join(sorted(clashes))}"
        )
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_prompts_sqlite(with_project=False)
    else:
        op.drop_index("ux_prompts_project_name", table_name="prompts")
        op.drop_column("prompts", "project")
        op.create_unique_constraint("prompts_name_key", "prompts", ["name"])
    op.drop_index("ix_eval_runs_project", table_name="eval_runs")
    op.drop_column("eval_runs", "project")
    op.drop_index("ix_traces_project_start", table_name="traces")
    for table in ("spans", "traces"):
        op.drop_column(table, "project")


def _unique_constraints_on_name() -> list[str]:
    found = sa.inspect(op.get_bind()).get_unique_constraints("prompts")
    return [c["name"] for c in found if c["column_names"] == ["name"] and c["name"]]


def _rebuild_prompts_sqlite(*, with_project: bool) -> None:
    """Recreate ``prompts`` with (or without) ``project``, keeping every row of every table."""
    bind = op.get_bind()
    driver = bind.connection.driver_connection
    if not driver.in_transaction:  # type: ignore[union-attr]
        bind.exec_driver_sql("BEGIN")  # the copies and drops below commit or fail together
    for table in (*_CHILDREN, "prompts"):
        bind.exec_driver_sql(f"CREATE TEMP TABLE _keep_{table} AS SELECT * FROM {table}")
    op.drop_index("ix_prompt_label_events_prompt", table_name="prompt_label_events")
    for table in (*reversed(_CHILDREN), "prompts"):  # children first: nothing cascades
        op.drop_table(table)
    _create_prompts(with_project)
    project = ", ''" if with_project else ""
    bind.exec_driver_sql(
        f"INSERT INTO prompts ({_PROMPT_COLUMNS}{', project' if with_project else ''}) "
        f"SELECT {_PROMPT_COLUMNS}{project} FROM _keep_prompts"
    )
    for table, create in zip(_CHILDREN, _CHILD_TABLES, strict=True):
        columns = ", ".join(c.name for c in create().columns)
        bind.exec_driver_sql(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _keep_{table}")
    op.create_index("ix_prompt_label_events_prompt", "prompt_label_events", ["prompt_id", "id"])
    for table in (*_CHILDREN, "prompts"):
        bind.exec_driver_sql(f"DROP TABLE _keep_{table}")


def _create_prompts(with_project: bool) -> None:
    columns: list[sa.Column[object]] = [
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False, unique=not with_project),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]
    if with_project:
        columns.append(
            sa.Column("project", sa.String(length=200), nullable=False, server_default="")
        )
    op.create_table("prompts", *columns)
    if with_project:
        op.create_index("ux_prompts_project_name", "prompts", ["project", "name"], unique=True)


# The child tables exactly as 0003 made them.


def _prompt_fk() -> sa.Column[int]:
    return sa.Column(
        "prompt_id",
        sa.Integer(),
        sa.ForeignKey("prompts.id", ondelete="CASCADE"),
        nullable=False,
    )


def _versions() -> sa.Table:
    return op.create_table(
        "prompt_versions",
        _prompt_fk(),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("engine", sa.String(length=16), nullable=False),
        sa.Column("template", JSON, nullable=False),
        sa.Column("variables", JSON, nullable=False),
        sa.Column("model_config", JSON, nullable=False),
        sa.Column("tools", JSON, nullable=True),
        sa.Column("response_format", JSON, nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("author", sa.String(length=200), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("prompt_id", "version"),
    )


def _labels() -> sa.Table:
    return op.create_table(
        "prompt_labels",
        _prompt_fk(),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("prompt_id", "label"),
    )


def _events() -> sa.Table:
    return op.create_table(
        "prompt_label_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        _prompt_fk(),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


_CHILD_TABLES: tuple[Callable[[], sa.Table], ...] = (_versions, _labels, _events)
