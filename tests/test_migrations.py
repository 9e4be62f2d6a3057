import warnings
from datetime import UTC, datetime

from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import SAWarning

from crm_core import migrate
from crm_core.db import Database


async def test_upgrade_from_empty_reaches_head_and_downgrades(database_url: str) -> None:
    db = Database(database_url)
    try:
        # The fixture may have migrated already (SQLite template); go to base and back up.
        await migrate.upgrade(db.engine)
        assert await migrate.current_revision(db.engine) == migrate.head_revision()
        await migrate.downgrade(db.engine, "base")
        async with db.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert tables <= {"alembic_version"}
        await migrate.upgrade(db.engine)
        async with db.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {"users", "invites", "departments", "processed_updates"} <= tables
        assert await migrate.current_revision(db.engine) == migrate.head_revision()
    finally:
        await db.dispose()


async def test_0006_turns_stage_names_into_codes_and_literal_names(database_url: str) -> None:
    """From 0005 with data: seeded rows get their code (a renamed one keeps its new name), an
    admin's pipeline and stage keep their literal name; nothing else is lost (no table rebuild
    cascading through the foreign keys); and back down to 0005."""
    db = Database(database_url)
    try:
        await migrate.upgrade(db.engine)
        await migrate.downgrade(db.engine, "0005")
        async with db.engine.begin() as conn:
            ids = dict((await conn.execute(text("SELECT entity_type, id FROM pipelines"))).all())
            # An admin renamed the seeded "Processed" lead stage in Russian only (API), and the
            # seeded deal pipeline in both languages (the bot's screens write both).
            await conn.execute(
                text("UPDATE stages SET name_ru = 'Проверен' WHERE code = 'PROCESSED' AND pipeline_id = :p"),
                {"p": ids["lead"]},
            )
            await conn.execute(
                text("UPDATE pipelines SET name_ru = 'Main', name_en = 'Main' WHERE id = :p"),
                {"p": ids["deal"]},
            )
            # An admin's pipeline with a copy of the default stages and a stage of its own.
            await conn.execute(
                text(
                    "INSERT INTO pipelines (entity_type, name_ru, name_en, sort, is_default, created_at)"
                    " VALUES ('deal', 'Опт', 'Опт', 110, :f, :now)"
                ),
                {"f": False, "now": datetime(2026, 1, 1, tzinfo=UTC)},
            )
            custom = (await conn.execute(text("SELECT id FROM pipelines WHERE name_en = 'Опт'"))).scalar_one()
            await conn.execute(
                text(
                    "INSERT INTO stages (pipeline_id, code, name_ru, name_en, sort, color, semantics) VALUES"
                    " (:p, 'NEW', 'Новая', 'New', 10, '#39A8EF', 'process'),"
                    " (:p, 'C99', 'Доставка', 'Доставка', 15, '#39A8EF', 'process')"
                ),
                {"p": custom},
            )
            stage_ids = (await conn.execute(text("SELECT id FROM stages ORDER BY id"))).scalars().all()
            await conn.execute(
                text(
                    "INSERT INTO stage_history (owner_type, owner_id, pipeline_id, stage_id, entered_at)"
                    " VALUES ('deal', 1, :p, :s, :now)"
                ),
                {"p": custom, "s": stage_ids[-1], "now": datetime(2026, 1, 1, tzinfo=UTC)},
            )

        await migrate.upgrade(db.engine)
        async with db.engine.connect() as conn:
            pipelines = {
                r.id: (r.code, r.name)
                for r in await conn.execute(text("SELECT id, code, name FROM pipelines"))
            }
            stages = {
                (r.pipeline_id, r.code): (r.entity_type, r.name)
                for r in await conn.execute(text("SELECT pipeline_id, code, entity_type, name FROM stages"))
            }
            history = (await conn.execute(text("SELECT count(*) FROM stage_history"))).scalar_one()
            columns = await conn.run_sync(
                lambda c: {
                    t: {col["name"] for col in inspect(c).get_columns(t)} for t in ("stages", "pipelines")
                }
            )
        assert pipelines == {
            ids["lead"]: ("LEADS", None),
            ids["deal"]: ("GENERAL", "Main"),
            custom: (None, "Опт"),
        }
        assert len(stages) == len(stage_ids) == 5 + 8 + 2 and history == 1
        assert stages[(ids["lead"], "NEW")] == ("lead", None)
        assert stages[(ids["lead"], "PROCESSED")] == ("lead", "Проверен")
        assert stages[(ids["deal"], "WON")] == ("deal", None)
        assert stages[(custom, "NEW")] == ("deal", None)  # a copy of a default stage: still named by code
        assert stages[(custom, "C99")] == ("deal", "Доставка")
        assert not {"name_ru", "name_en"} & (columns["stages"] | columns["pipelines"])

        await migrate.downgrade(db.engine, "0005")
        async with db.engine.connect() as conn:
            back = {
                (r.pipeline_id, r.code): (r.name_en, r.name_ru)
                for r in await conn.execute(text("SELECT pipeline_id, code, name_en, name_ru FROM stages"))
            }
            leads = (
                await conn.execute(
                    text("SELECT name_en, name_ru FROM pipelines WHERE id = :p"), {"p": ids["lead"]}
                )
            ).one()
        assert back[(ids["lead"], "NEW")] == ("New", "Новый")
        assert back[(ids["lead"], "PROCESSED")] == ("Проверен", "Проверен")
        assert back[(custom, "C99")] == ("Доставка", "Доставка")
        assert tuple(leads) == ("Leads", "Лиды")
        await migrate.upgrade(db.engine)
    finally:
        await db.dispose()


def _redundant_indexes(conn: Connection) -> set[str]:
    """Non-unique, whole-table indexes whose columns lead another index, a unique constraint or
    the primary key of their table: each costs a write per change and reads nothing the wider
    one cannot."""
    ins = inspect(conn)
    found = set()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection", SAWarning)
        for table in ins.get_table_names():
            indexes = ins.get_indexes(table)
            wider = [
                i["column_names"]
                for i in indexes
                if None not in i["column_names"]
                and not any(k.endswith("_where") and v is not None for k, v in i["dialect_options"].items())
            ]
            wider += [u["column_names"] for u in ins.get_unique_constraints(table)]
            wider.append(ins.get_pk_constraint(table)["constrained_columns"])
            for index in indexes:
                cols = index["column_names"]
                if index["unique"] or None in cols:
                    continue
                if any(len(w) > len(cols) and w[: len(cols)] == cols for w in wider):
                    found.add(index["name"])
    return found


async def test_no_index_is_a_leading_part_of_another(database_url: str) -> None:
    """0027 dropped the ten that were; 0026 still has them, which shows the check finds them."""
    db = Database(database_url)
    try:
        await migrate.upgrade(db.engine)
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_redundant_indexes) == set()
        await migrate.downgrade(db.engine, "0026")
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_redundant_indexes) == {
                "ix_leads_stage_id",
                "ix_leads_focus",
                "ix_leads_responsible_id",
                "ix_deals_stage_id",
                "ix_deals_focus",
                "ix_deals_responsible_id",
                "ix_companies_responsible_id",
                "ix_contacts_responsible_id",
                "ix_communications_owner",
                "ix_mail_letters_mailbox_id",
            }
        await migrate.upgrade(db.engine)
    finally:
        await db.dispose()
