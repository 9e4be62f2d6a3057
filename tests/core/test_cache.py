"""crm_core.cache: served only under the version the database says, whoever changed the rows."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import cache
from crm_core.clock import utcnow
from crm_core.db import Database
from crm_core.models import CacheVersion, ItemType, ProcessedUpdate, RequiredField, Role, Stage, User
from crm_core.models.rooms import Room, RoomKind
from crm_core.services import pipelines as pl
from crm_core.services import required_fields as rf
from crm_core.services import room_feed
from crm_core.services import users as users_service
from tests.core.factories import make_admin, make_user
from tests.core.sql_log import statements

_update_ids = itertools.count(1)


@asynccontextmanager
async def update_uow(db: Database) -> AsyncIterator[AsyncSession]:
    """A unit of work as the bot runs one: the update's record reads the cache version."""
    async with db.unit_of_work() as s:
        record = {"update_id": next(_update_ids), "bot_id": 1, "processed_at": utcnow()}
        await cache.execute_reading_version(s, cache.returning_version(insert(ProcessedUpdate)), record)
        yield s


def selects_from(db: Database, table: str) -> AbstractContextManager[list[str]]:
    def select_from_table(statement: str) -> str | None:
        is_select = statement.lstrip().upper().startswith("SELECT")
        return statement if is_select and f"FROM {table}" in statement else None

    return statements(db, select_from_table)


async def _version(db: Database) -> int:
    async with db.engine.connect() as conn:
        return (await conn.execute(select(CacheVersion.n))).scalar_one()


@pytest.fixture
async def two(database_url: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two engines on one database: this process and another one."""
    first, second = Database(database_url), Database(database_url)
    try:
        yield first, second
    finally:
        await first.dispose()
        await second.dispose()


CHANGES = {
    "users": "UPDATE users SET full_name = full_name || '!'",
    "departments": "INSERT INTO departments (name, created_at, updated_at) VALUES ('D', :now, :now)",
    "pipelines": "UPDATE pipelines SET sort = sort + 1",
    "stages": "UPDATE stages SET color = '#000000'",
    "required_fields": "INSERT INTO required_fields (item_type, field) VALUES ('lead', 'title')",
}


async def test_every_change_of_a_cached_table_bumps_the_version(db: Database) -> None:
    """Raw SQL (as another program would write): the triggers see it. Deletes too."""
    async with db.unit_of_work() as s:
        await make_user(s)
    assert set(CHANGES) == {m.__tablename__ for m in cache.CACHED_MODELS}
    for table, sql in CHANGES.items():
        before = await _version(db)
        async with db.engine.begin() as conn:
            await conn.execute(text(sql), {"now": utcnow()})
        assert await _version(db) > before, table
    for table in ("required_fields", "departments"):
        before = await _version(db)
        async with db.engine.begin() as conn:
            await conn.execute(text(f"DELETE FROM {table}"))
        assert await _version(db) > before, table
    before = await _version(db)
    async with db.engine.begin() as conn:  # a table not cached leaves it alone
        await conn.execute(text("UPDATE processed_updates SET bot_id = bot_id"))
    assert await _version(db) == before


async def test_a_user_comes_from_the_cache_until_another_engine_changes_it(
    two: tuple[Database, Database],
) -> None:
    bot, other = two
    async with bot.unit_of_work() as s:
        user = await make_user(s, Role.SALESPERSON)
        tg, user_id = user.telegram_id, user.id
    async with update_uow(bot) as s:
        assert (await users_service.get_by_telegram_id(s, tg)).role == Role.SALESPERSON
    with selects_from(bot, "users") as reads:
        async with update_uow(bot) as s:
            assert (await users_service.get_by_telegram_id(s, tg)).role == Role.SALESPERSON
    assert reads == []  # served by the cache

    async with other.unit_of_work() as s:
        await s.execute(update(User).where(User.id == user_id).values(role=Role.HEAD))
    with selects_from(bot, "users") as reads:
        async with update_uow(bot) as s:
            assert (await users_service.get_by_telegram_id(s, tg)).role == Role.HEAD
    assert len(reads) == 1


async def test_a_cached_user_can_be_changed_and_the_change_is_read_back(db: Database) -> None:
    async with db.unit_of_work() as s:
        tg = (await make_user(s, language="en")).telegram_id
    for _ in range(2):  # the first fills the cache, the second is served from it
        async with update_uow(db) as s:
            user = await users_service.get_by_telegram_id(s, tg)
            assert user.language == "en"
    async with update_uow(db) as s:
        user = await users_service.get_by_telegram_id(s, tg)
        users_service.set_language(user, "ru", ["en", "ru"])
    async with update_uow(db) as s:
        user = await users_service.get_by_telegram_id(s, tg)
        assert (user.language, user.language_chosen) == ("ru", True)
    async with db.unit_of_work() as s:  # and it reached the database
        assert await s.scalar(select(User.language).where(User.telegram_id == tg)) == "ru"


async def test_stages_renamed_by_another_engine_are_seen_on_the_next_unit_of_work(
    two: tuple[Database, Database],
) -> None:
    bot, other = two
    async with update_uow(bot) as s:
        pipeline = await pl.default_pipeline(s, ItemType.LEAD)
        first = (await pl.list_stages(s, pipeline.id))[0]
        pipeline_id, stage_id, code = pipeline.id, first.id, first.code
    with selects_from(bot, "stages") as reads:
        async with update_uow(bot) as s:
            assert (await pl.get_stage(s, stage_id)).name is None
            assert (await pl.list_stages(s, pipeline_id))[0].id == stage_id
            assert (await pl.default_pipeline(s, ItemType.LEAD)).id == pipeline_id
    assert reads == []

    async with other.unit_of_work() as s:
        admin = await make_admin(s)
        await pl.update_stage(s, admin, stage_id, name="Fresh")
    async with update_uow(bot) as s:
        stages = await pl.list_stages(s, pipeline_id)
        assert (stages[0].id, stages[0].code, stages[0].name) == (stage_id, code, "Fresh")
        assert (await pl.get_stage(s, stage_id)).name == "Fresh"


async def test_a_change_in_the_same_unit_of_work_is_seen_and_a_rolled_back_one_is_not_cached(
    db: Database,
) -> None:
    async with db.unit_of_work() as s:
        admin_id = (await make_admin(s)).id
    async with update_uow(db) as s:
        pipeline = await pl.default_pipeline(s, ItemType.LEAD)
        pipeline_id = pipeline.id
        stage_ids = [st.id for st in await pl.list_stages(s, pipeline_id)]
    process = stage_ids[:3]

    with pytest.raises(RuntimeError):
        async with update_uow(db) as s:
            admin = await s.get(User, admin_id)
            stages = await pl.list_stages(s, pipeline_id)  # from the cache
            stages[2].sort = 1  # not flushed yet: the order must follow it all the same
            assert [st.id for st in await pl.list_stages(s, pipeline_id)][:3] == [process[2], *process[:2]]
            await pl.update_stage(s, admin, process[0], name="Renamed")
            await pl.reorder_stages(
                s, admin, pipeline_id, [process[2], process[1], process[0], *stage_ids[3:]]
            )
            stages = await pl.list_stages(s, pipeline_id)
            assert [(st.id, st.name) for st in stages[:3]] == [
                (process[2], None),
                (process[1], None),
                (process[0], "Renamed"),
            ]
            assert await rf.get_required_fields(s, ItemType.LEAD) == []
            await rf.set_required_fields(s, admin, ItemType.LEAD, ["title"])
            assert await rf.get_required_fields(s, ItemType.LEAD) == ["title"]
            raise RuntimeError("roll it all back")

    async with update_uow(db) as s:
        stages = await pl.list_stages(s, pipeline_id)
        assert [st.id for st in stages] == stage_ids
        assert stages[0].name is None
        assert await rf.get_required_fields(s, ItemType.LEAD) == []
        assert await s.scalar(select(RequiredField.id)) is None


async def test_required_fields_come_from_the_cache_until_changed(two: tuple[Database, Database]) -> None:
    bot, other = two
    for _ in range(2):
        async with update_uow(bot) as s:
            assert await rf.get_required_fields(s, ItemType.DEAL) == []
    with selects_from(bot, "required_fields") as reads:
        async with update_uow(bot) as s:
            assert await rf.get_required_fields(s, ItemType.DEAL) == []
    assert reads == []
    async with other.unit_of_work() as s:
        admin = await make_admin(s)
        await rf.set_required_fields(s, admin, ItemType.DEAL, ["amount"])
    async with update_uow(bot) as s:
        assert await rf.get_required_fields(s, ItemType.DEAL) == ["amount"]
        assert await rf.get_required_fields(s, ItemType.LEAD) == []


async def test_a_session_that_did_not_read_the_version_never_uses_the_cache(db: Database) -> None:
    async with update_uow(db) as s:
        await pl.list_stages(s, (await pl.default_pipeline(s, ItemType.LEAD)).id)
    with selects_from(db, "stages") as reads:
        async with db.unit_of_work() as s:
            stage = (await s.scalars(select(Stage).limit(1))).one()
            await pl.list_stages(s, stage.pipeline_id)
    assert len(reads) == 2


@pytest.mark.parametrize(
    "statement",
    [text("UPDATE stages SET name = 'X'"), update(Stage).values(name="X")],
    ids=["text", "core"],
)
async def test_a_statement_changing_a_cached_table_keeps_the_cache_from_its_rows(
    db: Database, statement: Any
) -> None:
    """What the unit of work then reads is uncommitted (and here rolled back): never cached."""
    async with update_uow(db) as s:
        pipeline_id = (await pl.default_pipeline(s, ItemType.LEAD)).id  # stages not read yet
    with pytest.raises(RuntimeError):
        async with update_uow(db) as s:
            await s.execute(statement)
            assert {st.name for st in await pl.list_stages(s, pipeline_id)} == {"X"}
            raise RuntimeError("rolled back")
    async with update_uow(db) as s:
        assert {st.name for st in await pl.list_stages(s, pipeline_id)} == {None}


async def test_whether_an_item_has_a_room_is_known_until_a_room_is_bound_or_unbound(
    two: tuple[Database, Database],
) -> None:
    """The room lookup of every timeline event asks nothing while no room is bound or unbound;
    one bound or moved by another engine (raw SQL, as another program writes) is seen at once."""
    bot, other = two
    async with bot.unit_of_work() as s:
        user_id = (await make_user(s, Role.SALESPERSON)).id
    insert_room = (
        "INSERT INTO rooms (owner_type, owner_id, kind, chat_id, title, language, reminders, "
        "log_messages, closed, feed_batch, created_at, bound_by) "
        "VALUES ('deal', 7, 'group', -1007, '', 'en', false, false, false, 0, :now, :user)"
    )
    for _ in range(2):  # the first fills the cache, the second is served from it
        with selects_from(bot, "rooms") as reads:
            async with update_uow(bot) as s:
                assert await room_feed.room_of(s, ItemType.DEAL, 7) is None
                assert await room_feed.room_of(s, ItemType.LEAD, 7) is None
    assert reads == []

    async def bumps(sql: str, **params: Any) -> bool:
        before = await _version(other)
        async with other.engine.begin() as conn:
            await conn.execute(text(sql), params)
        return await _version(other) > before

    assert await bumps(insert_room, now=utcnow(), user=user_id)
    async with update_uow(bot) as s:
        room = await room_feed.room_of(s, ItemType.DEAL, 7)
        assert room is not None and room.chat_id == -1007
        assert await room_feed.room_of(s, ItemType.DEAL, 8) is None
    # Its other columns change with the room's life (its pinned card): the cache stays.
    assert not await bumps("UPDATE rooms SET card_message_id = 5, title = 'T'")
    assert await bumps("UPDATE rooms SET owner_id = 8")
    async with update_uow(bot) as s:
        assert await room_feed.room_of(s, ItemType.DEAL, 7) is None
        assert (await room_feed.room_of(s, ItemType.DEAL, 8)).card_message_id == 5
    assert await bumps("DELETE FROM rooms")
    with selects_from(bot, "rooms") as reads:
        async with update_uow(bot) as s:
            assert await room_feed.room_of(s, ItemType.DEAL, 8) is None
    assert len(reads) == 1  # the rooms' owners read again, once


async def test_a_room_bound_in_the_same_unit_of_work_is_found(db: Database) -> None:
    async with db.unit_of_work() as s:
        user_id = (await make_user(s, Role.SALESPERSON)).id
    async with update_uow(db) as s:
        assert await room_feed.room_of(s, ItemType.DEAL, 9) is None  # fills the cache
        s.add(
            Room(owner_type=ItemType.DEAL, owner_id=9, kind=RoomKind.GROUP, chat_id=-1009, bound_by=user_id)
        )
        assert (await room_feed.room_of(s, ItemType.DEAL, 9)).chat_id == -1009
