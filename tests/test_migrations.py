from sqlalchemy import inspect

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
