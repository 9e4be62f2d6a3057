"""/report: the funnel, won/lost over a period and the salespeople's numbers arrive as valid PNG
pictures whose captions carry the data's numbers, each person seeing what their role allows:
an admin everyone, a head the department, a salesperson themselves."""

from __future__ import annotations

import io
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from PIL import Image

from crm_core.clock import utcnow
from crm_core.models import User
from crm_core.models.items import ItemType
from crm_core.models.users import Role
from crm_core.services import activities as activities_service
from crm_core.services import items as items_service
from crm_core.services import pipelines as pipelines_service
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import Harness
from tests.e2e.people import add_member, admin_user

HEAD_ID, SAM_ID, OLGA_ID = 2601, 2602, 2603


@pytest.fixture(autouse=True, scope="module")
def matplotlib_loaded() -> None:
    """matplotlib's first import (and font cache) takes seconds on a busy machine; the bot imports
    it on the first report, which these tests would otherwise time in their first press."""
    from handlers import report_charts

    report_charts.funnel_png("warm-up", ["a"], [1], ["1"])


# The admin's funnel of _world's deals: on each stage now, items · sum · conversion from the stage
# before (of the deals that got as far as that one: the lost deal left at New, the won ones went
# straight to Won).
FUNNEL_LINES = [
    "New: 1 · ₽50",
    "Preparing documents: 1 · ₽700 · 60.0%",
    "Prepayment invoice: 0 · — · 66.7%",
    "In progress: 0 · — · 100.0%",
    "Final invoice: 0 · — · 100.0%",
    "Won: 2 · ₽1,300 · 100.0%",
    "Lost: 1 · ₽500",
    "Analyze failure: 0 · —",
]


async def _photo(bot: Harness, user_id: int, button: str) -> tuple[Image.Image, str]:
    [menu] = await bot.say(user_id, "/report")
    marker = bot.tg.mark()
    await bot.press(user_id, menu, button)
    [msg] = [m for m in bot.new_bot_messages(user_id, marker) if "photo" in m.content]
    data = bot.tg.file_bytes(msg.content["photo"][-1]["file_id"])
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    image.verify()  # a whole, valid PNG
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.width >= 700  # wide enough to read on a phone
    return image, msg.caption or ""


async def _world(bot: Harness) -> dict[str, User]:
    bot.tg.set_rate_limits(False)
    admin = await admin_user(bot)
    head = await add_member(bot, HEAD_ID, "Hanna Head", role=Role.HEAD, department="Sales")
    sam = await add_member(bot, SAM_ID, "Sam Seller", department="Sales")
    olga = await add_member(bot, OLGA_ID, "Olga Other", department="Support")
    now = utcnow()
    async with bot.app.db.unit_of_work() as s:
        a = await s.get(User, admin.id)
        deal_pipe = await pipelines_service.default_pipeline(s, ItemType.DEAL)
        stages = list(await pipelines_service.list_stages(s, deal_pipe.id))
        won = next(st for st in stages if st.code == "WON")
        lose = next(st for st in stages if st.code == "LOSE")

        async def deal(owner: User, amount: str, stage=None):
            d = await items_service.create_deal(s, a, title=f"D {amount}", amount=Decimal(amount),
                                                responsible_id=owner.id)  # fmt: skip
            if stage is not None:
                await pipelines_service.move_stage(s, a, d, stage.id)
            return d

        await deal(sam, "1000", won)
        await deal(sam, "500", lose)
        await deal(sam, "700", stages[1])
        await deal(olga, "300", won)
        await deal(head, "50")
        lead_pipe = await pipelines_service.default_pipeline(s, ItemType.LEAD)
        converted = next(
            st for st in await pipelines_service.list_stages(s, lead_pipe.id) if st.semantics == "success"
        )
        lead = await items_service.create_lead(s, a, title="L", responsible_id=sam.id)
        await pipelines_service.move_stage(s, a, lead, converted.id)
        act = await activities_service.create_activity(
            s,
            a,
            owner_type="lead",
            owner_id=lead.id,
            deadline=now + timedelta(hours=1),
            responsible_id=sam.id,
        )
        await activities_service.complete_activity(s, a, act.id)
        await activities_service.create_activity(
            s,
            a,
            owner_type="lead",
            owner_id=lead.id,
            deadline=now - timedelta(hours=2),
            responsible_id=olga.id,
        )
    return {"admin": admin, "head": head, "sam": sam, "olga": olga}


async def test_won_lost_per_role(bot: Harness) -> None:
    await _world(bot)
    _, caption = await _photo(bot, ADMIN_ID, "This month")
    assert "Won: 2 (₽1,300)" in caption and "Lost: 1 (₽500)" in caption
    _, caption = await _photo(bot, HEAD_ID, "This month")  # the department: Sam's deals
    assert "Won: 1 (₽1,000)" in caption and "Lost: 1 (₽500)" in caption
    _, caption = await _photo(bot, OLGA_ID, "This month")
    assert "Won: 1 (₽300)" in caption and "Lost: 0 (—)" in caption


async def test_funnel_numbers_match(bot: Harness) -> None:
    await _world(bot)
    _, caption = await _photo(bot, ADMIN_ID, "Funnel: General")
    lines = caption.splitlines()
    assert "(5 items)" in lines[0]
    assert lines[1:] == FUNNEL_LINES
    _, caption = await _photo(bot, SAM_ID, "Funnel: General")
    assert "(3 items)" in caption.splitlines()[0]


async def test_salespeople_per_role(bot: Harness) -> None:
    await _world(bot)
    _, caption = await _photo(bot, ADMIN_ID, "This week")  # the first period row is won/lost
    [menu] = await bot.say(ADMIN_ID, "/report")
    rows = [r for r in menu.inline_keyboard]
    people_row = rows[-1]
    marker = bot.tg.mark()
    bot.tg.press_button(ADMIN_ID, menu.message_id, people_row[1][1])
    await bot.settle()
    [msg] = [m for m in bot.new_bot_messages(ADMIN_ID, marker) if "photo" in m.content]
    caption = msg.caption or ""
    assert "Sam Seller: activities done 1, overdue 0, leads converted 1, deals won 1" in caption
    assert "Olga Other: activities done 0, overdue 1, leads converted 0, deals won 1" in caption
    for who, expected, hidden in (
        (HEAD_ID, "Sam Seller", "Olga Other"),
        (SAM_ID, "Sam Seller", "Hanna Head"),
    ):
        [menu] = await bot.say(who, "/report")
        marker = bot.tg.mark()
        bot.tg.press_button(who, menu.message_id, menu.inline_keyboard[-1][1][1])
        await bot.settle()
        [msg] = [m for m in bot.new_bot_messages(who, marker) if "photo" in m.content]
        assert expected in (msg.caption or "") and hidden not in (msg.caption or "")


async def test_custom_range_typed(bot: Harness) -> None:
    await _world(bot)
    [menu] = await bot.say(ADMIN_ID, "/report")
    [ask] = await bot.press(ADMIN_ID, menu, "Won and lost: choose days")
    assert "01.11.2026 - 15.11.2026" in (ask.text or "")
    [bad] = await bot.say(ADMIN_ID, "yesterday")
    assert "two days" in (bad.text or "")
    today = utcnow().date()
    span = f"{(today - timedelta(days=3)).isoformat()} .. {(today + timedelta(days=1)).isoformat()}"
    [photo] = await bot.say(ADMIN_ID, span)
    assert "Won: 2 (₽1,300)" in (photo.caption or "")


async def test_funnel_over_a_period(bot: Harness) -> None:
    """Under a funnel, its periods: the same funnel of the items that came in them (created then, in
    the person's timezone), the caption's numbers those of the period's items."""
    from crm_core.services import reports as reports_service

    people = await _world(bot)
    async with bot.app.db.unit_of_work() as s:
        a = await s.get(User, people["admin"].id)
        last_month = reports_service.period("last_month", a)
        old = await items_service.create_deal(s, a, title="Old", amount=Decimal("90"), responsible_id=a.id)
        old.created_at = last_month.start + timedelta(days=1)
    [menu] = await bot.say(ADMIN_ID, "/report")
    [photo] = await bot.press(ADMIN_ID, menu, "Funnel: General")
    assert "(6 items)" in (photo.caption or "").splitlines()[0]
    [photo_last] = await bot.press(ADMIN_ID, photo, "Last month")
    lines = (photo_last.caption or "").splitlines()
    assert "(1 item)" in lines[0] and lines[1].startswith("Came in: ")
    assert lines[2] == "New: 1 · ₽90" and all(" 0 · —" in line for line in lines[3:])
    [photo_month] = await bot.press(ADMIN_ID, photo_last, "This month")
    lines = (photo_month.caption or "").splitlines()
    assert "(5 items)" in lines[0]
    assert lines[2:] == FUNNEL_LINES
    # typed days: the day the old deal came
    [ask] = await bot.press(ADMIN_ID, photo_month, "Choose days")
    day = last_month.first + timedelta(days=1)  # local days: start is the first one's midnight
    [typed] = await bot.say(ADMIN_ID, f"{day.isoformat()} .. {day.isoformat()}")
    assert "(1 item)" in (typed.caption or "").splitlines()[0]


async def test_weekly_digest_of_a_head_with_the_funnel(bot: Harness) -> None:
    """A head turns the weekly digest on in /settings; on Monday at the digest time it comes through
    the delivery engine as the funnel picture with last week's won/lost and the funnel's numbers
    in the caption (the department's). Without the setting, none; a salesperson, none."""
    from sqlalchemy import select, update

    from crm_core.models.items import Deal
    from crm_core.services import delivery as delivery_service

    people = await _world(bot)
    now = utcnow()
    monday = datetime.combine(now.date() - timedelta(days=now.weekday()), time(9, 5), tzinfo=UTC)
    if monday > now:
        monday -= timedelta(days=7)
    async with bot.app.db.unit_of_work() as s:
        await s.execute(update(User).values(created_at=monday - timedelta(days=30)))
        # Sam's won deal closed last week; a salesperson's setting (forged in the database) sends nothing.
        await s.execute(
            update(Deal).where(Deal.title == "D 1000").values(closed_at=monday - timedelta(days=3))
        )
        await s.execute(update(User).where(User.id == people["sam"].id).values(weekly_digest=True))

    [screen] = [m for m in await bot.say(SAM_ID, "/settings") if "Daily digest" in str(m.inline_keyboard)]
    await bot.press(SAM_ID, screen, "Daily digest")
    assert "Weekly digest" not in str(bot.current(screen).inline_keyboard)
    [screen] = [m for m in await bot.say(HEAD_ID, "/settings") if "Daily digest" in str(m.inline_keyboard)]
    await bot.press(HEAD_ID, screen, "Daily digest")
    await bot.press(HEAD_ID, screen, "Weekly digest on Mondays: off")
    assert "With the funnel picture: yes" in str(bot.current(screen).inline_keyboard)

    marker = {who: bot.tg.mark() for who in (HEAD_ID, ADMIN_ID, SAM_ID)}
    async with bot.app.db.unit_of_work() as s:
        assert await delivery_service.queue_weekly_digests(s, monday) == 1
        assert await delivery_service.queue_weekly_digests(s, monday + timedelta(minutes=1)) == 0  # once
    await bot.tg.wait_for(
        lambda: any("photo" in m.content for m in bot.new_bot_messages(HEAD_ID, marker[HEAD_ID])), 20
    )
    await bot.settle()
    [msg] = [m for m in bot.new_bot_messages(HEAD_ID, marker[HEAD_ID]) if "photo" in m.content]
    data = bot.tg.file_bytes(msg.content["photo"][-1]["file_id"])
    Image.open(io.BytesIO(data)).verify()
    lines = (msg.caption or "").splitlines()
    assert lines[0].startswith("📅 Week in review") and lines[1:3] == ["Won: 1 (₽1,000)", "Lost: 0 (—)"]
    assert "(4 items)" in lines[4]  # the department's funnel: Sam's three deals and the head's one
    assert "New: 1 · ₽50" in lines and "Won: 1 · ₽1,000 · 100.0%" in lines and "Lost: 1 · ₽500" in lines
    for who in (ADMIN_ID, SAM_ID):  # (their daily digests may come: the users were made a month old)
        assert not [m for m in bot.new_bot_messages(who, marker[who]) if "photo" in m.content]
        assert not [m for m in bot.new_bot_messages(who, marker[who]) if "Week in review" in (m.text or "")]
    async with bot.app.db.unit_of_work() as s:
        head = await s.scalar(select(User).where(User.telegram_id == HEAD_ID))
        assert head.weekly_digest and head.weekly_funnel
