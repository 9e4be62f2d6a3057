"""stage names: pipelines and stages named by a code (the bot's catalogs) or a literal name

The seeded pipelines and stages lose their name_ru/name_en columns: a pipeline gets a `code`
(LEADS, GENERAL) and a stage keeps its `code` (NEW, WON...) that the bot names in the reader's
language; one an admin made or renamed gets the literal `name`, shown as is in every language.
Stages also get their pipeline's `entity_type` (a lead's NEW and a deal's NEW read differently).

Filling, per row:
- seeded: the lead pipeline, the default deal pipeline, and a stage whose code is one of the
  default codes of its pipeline's type (0002 seeds them; a new deal pipeline copies the deal set).
  Its `name` stays NULL while both names are the seeded ones; a renamed one keeps its new name
  (name_ru if it differs from the seed, else name_en: the bot's admin screens wrote both at once,
  an API call may have changed one).
- made by an admin: `name` = name_ru (the bot wrote the typed text into both).
Downgrade writes the seeded names back for rows without a literal name.

No table is rebuilt (batch recreate="never": SQLite >= 3.35 adds and drops these columns in place).
Rebuilding a table on SQLite drops it, and with foreign keys on that deletes through the cascades
(a pipeline's stages, a stage's history). So a NOT NULL column is added with a server default, which
PostgreSQL then drops; SQLite keeps it (ALTER cannot remove it there), the ORM always sets the value.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The seeded names as 0002 wrote them (a migration keeps its own copy: the code may change later).
PIPELINES = {"lead": ("LEADS", "Leads", "Лиды"), "deal": ("GENERAL", "General", "Общая")}
STAGES = {
    "lead": {
        "NEW": ("New", "Новый"),
        "IN_PROCESS": ("In progress", "В работе"),
        "PROCESSED": ("Processed", "Обработан"),
        "CONVERTED": ("Quality lead", "Качественный лид"),
        "JUNK": ("Poor lead", "Некачественный лид"),
    },
    "deal": {
        "NEW": ("New", "Новая"),
        "PREPARATION": ("Preparing documents", "Подготовка документов"),
        "PREPAYMENT_INVOICE": ("Prepayment invoice", "Счёт на предоплату"),
        "EXECUTING": ("In progress", "В работе"),
        "FINAL_INVOICE": ("Final invoice", "Финальный счёт"),
        "WON": ("Won", "Сделка успешна"),
        "LOSE": ("Lost", "Сделка провалена"),
        "APOLOGY": ("Analyze failure", "Анализ причины провала"),
    },
}
ITEM_TYPE = sa.Enum("lead", "deal", "contact", "company", name="item_type", native_enum=False, length=16)
NAME = sa.String(length=200)


def _in_place(table: str):  # alembic's batch context, never a rebuild
    return op.batch_alter_table(table, schema=None, recreate="never")


def _drop_defaults(table: str, *columns: str) -> None:
    """The server defaults that filled the NOT NULL columns go (SQLite cannot drop one in place)."""
    if op.get_bind().dialect.name == "sqlite":
        return
    with _in_place(table) as batch_op:
        for column in columns:
            batch_op.alter_column(column, server_default=None)


def _literal(name_en: str, name_ru: str, seed: tuple[str, str] | None) -> str | None:
    """The literal name a row keeps: None for a seeded row still named as seeded."""
    if seed is None:
        return name_ru or name_en
    if name_ru != seed[1]:
        return name_ru
    if name_en != seed[0]:
        return name_en
    return None


def upgrade() -> None:
    with _in_place("pipelines") as batch_op:
        batch_op.add_column(sa.Column("code", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("name", NAME, nullable=True))
    with _in_place("stages") as batch_op:
        # Filled from the pipelines below; the default only lets SQLite add a NOT NULL column.
        batch_op.add_column(sa.Column("entity_type", ITEM_TYPE, nullable=False, server_default="deal"))
        batch_op.add_column(sa.Column("name", NAME, nullable=True))

    bind = op.get_bind()
    pipelines = sa.table(
        "pipelines",
        sa.column("id", sa.Integer),
        sa.column("entity_type", sa.String),
        sa.column("code", sa.String),
        sa.column("name", sa.String),
        sa.column("name_ru", sa.String),
        sa.column("name_en", sa.String),
        sa.column("is_default", sa.Boolean),
    )
    stages = sa.table(
        "stages",
        sa.column("id", sa.Integer),
        sa.column("pipeline_id", sa.Integer),
        sa.column("entity_type", sa.String),
        sa.column("code", sa.String),
        sa.column("name", sa.String),
        sa.column("name_ru", sa.String),
        sa.column("name_en", sa.String),
    )
    rows = bind.execute(
        sa.select(
            pipelines.c.id,
            pipelines.c.entity_type,
            pipelines.c.name_en,
            pipelines.c.name_ru,
            pipelines.c.is_default,
        ).order_by(pipelines.c.id)
    ).all()
    seeded_ids: set[int] = set()
    for entity_type in PIPELINES:
        # The seeded one: the only lead pipeline; the default deal pipeline (the first if several).
        of_type = [r for r in rows if r.entity_type == entity_type]
        first = next((r for r in of_type if r.is_default), of_type[0] if of_type else None)
        if first is not None:
            seeded_ids.add(first.id)
    for row in rows:
        seed = PIPELINES[row.entity_type] if row.id in seeded_ids else None
        bind.execute(
            pipelines.update()
            .where(pipelines.c.id == row.id)
            .values(
                code=seed[0] if seed else None,
                name=_literal(row.name_en, row.name_ru, seed[1:] if seed else None),
            )
        )
    for row in bind.execute(
        sa.select(
            stages.c.id, stages.c.code, stages.c.name_en, stages.c.name_ru, pipelines.c.entity_type
        ).join(pipelines, pipelines.c.id == stages.c.pipeline_id)
    ).all():
        seed = STAGES.get(row.entity_type, {}).get(row.code)
        bind.execute(
            stages.update()
            .where(stages.c.id == row.id)
            .values(entity_type=row.entity_type, name=_literal(row.name_en, row.name_ru, seed))
        )

    _drop_defaults("stages", "entity_type")
    for table in ("stages", "pipelines"):
        with _in_place(table) as batch_op:
            batch_op.drop_column("name_ru")
            batch_op.drop_column("name_en")


def downgrade() -> None:
    for table in ("pipelines", "stages"):
        with _in_place(table) as batch_op:
            batch_op.add_column(sa.Column("name_ru", NAME, nullable=False, server_default=""))
            batch_op.add_column(sa.Column("name_en", NAME, nullable=False, server_default=""))

    bind = op.get_bind()
    pipelines = sa.table(
        "pipelines",
        sa.column("id", sa.Integer),
        sa.column("entity_type", sa.String),
        sa.column("code", sa.String),
        sa.column("name", sa.String),
        sa.column("name_ru", sa.String),
        sa.column("name_en", sa.String),
    )
    stages = sa.table(
        "stages",
        sa.column("id", sa.Integer),
        sa.column("entity_type", sa.String),
        sa.column("code", sa.String),
        sa.column("name", sa.String),
        sa.column("name_ru", sa.String),
        sa.column("name_en", sa.String),
    )
    for row in bind.execute(
        sa.select(pipelines.c.id, pipelines.c.entity_type, pipelines.c.code, pipelines.c.name)
    ).all():
        seed = PIPELINES.get(row.entity_type) if row.code else None
        en, ru = (row.name, row.name) if row.name else (seed[1], seed[2]) if seed else (row.code, row.code)
        bind.execute(pipelines.update().where(pipelines.c.id == row.id).values(name_en=en, name_ru=ru))
    for row in bind.execute(sa.select(stages.c.id, stages.c.entity_type, stages.c.code, stages.c.name)).all():
        seed = STAGES.get(row.entity_type, {}).get(row.code)
        en, ru = (row.name, row.name) if row.name else seed or (row.code, row.code)
        bind.execute(stages.update().where(stages.c.id == row.id).values(name_en=en, name_ru=ru))

    for table in ("stages", "pipelines"):
        _drop_defaults(table, "name_ru", "name_en")
        with _in_place(table) as batch_op:
            batch_op.drop_column("name")
            batch_op.drop_column("entity_type" if table == "stages" else "code")
