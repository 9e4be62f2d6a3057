"""The start-up's quick check of migrations agrees with Alembic."""

from crm_core import migrate
from crm_core.db import Database


def test_quick_head_is_alembics_head() -> None:
    assert migrate.quick_head() == migrate.head_revision()


async def test_up_to_date_only_at_head(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}")
    try:
        assert not await migrate.is_up_to_date(db.engine)  # a new database
        await migrate.upgrade(db.engine)
        assert await migrate.is_up_to_date(db.engine)
        await migrate.downgrade(db.engine, "0005")
        assert not await migrate.is_up_to_date(db.engine)
        await migrate.upgrade(db.engine)  # the quick check said no: Alembic runs
        assert await migrate.current_revision(db.engine) == migrate.head_revision()
    finally:
        await db.dispose()
