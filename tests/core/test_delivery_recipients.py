"""What delivery reads about the people it sends to: one call gives each recipient's user (for
language and timezone), muted categories and chat state; absent users are left out."""

from __future__ import annotations

from datetime import UTC, datetime

from crm_core.models.notifications import NotificationCategory
from crm_core.services import delivery as delivery_service
from crm_core.services.notifications import mute_category
from tests.core.factories import make_user

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


async def test_recipients_carry_settings_mutes_and_chat_state(session):
    anna = await make_user(session, language="ru", timezone="Asia/Vladivostok")
    boris = await make_user(session)
    await mute_category(session, anna, NotificationCategory.DIGEST)
    await delivery_service.mark_undeliverable(session, boris.telegram_id, "blocked", NOW)
    await delivery_service.set_not_before(
        session, anna.telegram_id, datetime(2026, 3, 10, 12, 5, tzinfo=UTC), NOW
    )

    found = await delivery_service.recipients(session, [anna.id, boris.id, 999_999])

    assert set(found) == {anna.id, boris.id}
    a, b = found[anna.id], found[boris.id]
    assert (a.user.language, a.user.timezone, a.chat_id) == ("ru", "Asia/Vladivostok", anna.telegram_id)
    assert a.mutes(NotificationCategory.DIGEST) and not a.mutes(NotificationCategory.REMINDER)
    assert not a.undeliverable and a.chat is not None and a.chat.not_before is not None
    assert b.undeliverable and b.muted == frozenset()


async def test_no_recipients_asked_none_read(session):
    assert await delivery_service.recipients(session, []) == {}
