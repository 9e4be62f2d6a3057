"""A deal room from the inside: binding by a startgroup link, the team forum (/setforum), and the
work on the item without leaving the room: /card, /c <text>, replies to the bot as comments (with
files), /status for heads, /reminders, /unbind. Everyone acts as themselves: a CRM user who may not
see the item is refused and nothing changes (strangers are stopped by the gate)."""

from __future__ import annotations

from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart, Filter
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import utcnow
from crm_core.errors import AccessDenied, NotFound, RoomRefused
from crm_core.models.rooms import Room
from crm_core.models.users import Role, User
from crm_core.services import activities as activities_service
from crm_core.services import comments as comments_service
from crm_core.services import pipelines as pipelines_service
from crm_core.services import room_feed
from crm_core.services import rooms as rooms_service
from handlers.card_render import format_dt, format_money, stage_progress
from handlers.comments import file_of, mentioned_ids
from handlers.render import esc, truncate
from handlers.rooms_bind import bot_rights, finish_binding, post_card
from handlers.rooms_render import room_card
from handlers.texts import N_, Translator

router = Router(name="rooms_group")
router.message.filter(F.chat.type.in_({"group", "supergroup"}))

REFUSALS = {
    "token_unknown": N_("rooms.refused.token_unknown"),
    "token_used": N_("rooms.refused.token_used"),
    "token_expired": N_("rooms.refused.token_expired"),
    "item_has_room": N_("rooms.refused.item_has_room"),
    "chat_taken": N_("rooms.refused.chat_taken"),
    "chat_is_forum": N_("rooms.refused.chat_is_forum"),
    "unbind_not_allowed": N_("rooms.refused.unbind_not_allowed"),
    "not_bindable": N_("rooms.refused.not_bindable"),
}


def refusal(tr: Translator, exc: RoomRefused) -> str:
    key = REFUSALS.get(exc.reason)
    return tr(key) if key else tr("rooms.refused.token_unknown")


def _thread(message: Message) -> int | None:
    return message.message_thread_id if message.is_topic_message else None


async def _room(session: AsyncSession, message: Message) -> Room | None:
    return await rooms_service.room_in_chat(session, message.chat.id, _thread(message))


@router.message(CommandStart(deep_link=True, magic=F.args.startswith(rooms_service.TOKEN_PREFIX)))
async def bind_by_link(
    message: Message, command: CommandObject, session: AsyncSession, user: User, bot: Bot, tr: Translator
) -> None:
    try:
        async with session.begin_nested():  # a refused binding does not use the token up
            item = await rooms_service.take_token(session, user, command.args or "")
            room = await rooms_service.bind(
                session, user, item, chat_id=message.chat.id, title=message.chat.title or ""
            )
    except RoomRefused as exc:
        await message.answer(refusal(tr, exc))
        return
    await finish_binding(bot, session, user, room, item)


@router.message(Command("setforum"))
async def set_forum(message: Message, session: AsyncSession, user: User, bot: Bot, tr: Translator) -> None:
    if not user.is_admin:
        await message.answer(tr("rooms.forum.admins_only"))
        return
    if not message.chat.is_forum:
        await message.answer(tr("rooms.forum.not_forum"))
        return
    _pin, _invite, topics = await bot_rights(bot, message.chat.id)
    if not topics:
        await message.answer(tr("rooms.forum.need_rights"))
        return
    try:
        await rooms_service.register_forum(session, user, message.chat.id, message.chat.title or "")
    except RoomRefused as exc:
        await message.answer(refusal(tr, exc))
        return
    await message.answer(tr("rooms.forum.registered", title=esc(message.chat.title or "")))


async def _room_item(  # noqa: ANN202
    session: AsyncSession, message: Message, user: User, tr: Translator, *, quiet: bool = False
):
    """The room here and its item, if the person may see it; else they are told, and None. A
    reply in a chat that is no room (`quiet`) is not answered at all."""
    room = await _room(session, message)
    if room is None:
        if not quiet:
            await message.answer(tr("rooms.not_bound"))
        return None, None
    try:
        item = await rooms_service.room_item(session, user, room)
    except (AccessDenied, NotFound):
        await message.reply(tr("rooms.no_access"))
        return None, None
    return room, item


@router.message(Command("card"))
async def card(message: Message, session: AsyncSession, user: User, bot: Bot, tr: Translator) -> None:
    room, item = await _room_item(session, message, user, tr)
    if room is None:
        return
    await post_card(bot, session, user, tr, room)


async def _comment(
    message: Message, session: AsyncSession, user: User, tr: Translator, text: str, *, quiet: bool = False
) -> None:
    room, item = await _room_item(session, message, user, tr, quiet=quiet)
    if room is None:
        return
    file = file_of(message)
    if not text.strip() and file is None:
        await message.reply(tr("rooms.comment.empty"))
        return
    mentions = await mentioned_ids(session, message.entities or message.caption_entities)
    with room_feed.acting_in_room(room.id):  # the room saw it: not echoed back
        await comments_service.add_comment(
            session,
            user,
            room.owner_type,
            room.owner_id,
            text,
            mention_user_ids=mentions,
            files=[file] if file else [],
        )
    await message.reply(tr("rooms.comment.added", ref=esc(item.ref)))


@router.message(Command("c"))
async def comment_command(
    message: Message, command: CommandObject, session: AsyncSession, user: User, tr: Translator
) -> None:
    await _comment(message, session, user, tr, command.args or "")


def _reply_to_bot(message: Message) -> bool:
    reply = message.reply_to_message
    return (
        reply is not None
        and reply.from_user is not None
        and reply.from_user.is_bot
        and reply.forum_topic_created is None
        and not (message.text or "").startswith("/")
    )


@router.message(F.func(_reply_to_bot))
async def reply_as_comment(
    message: Message, session: AsyncSession, user: User, bot: Bot, tr: Translator, state: FSMContext
) -> None:
    reply = message.reply_to_message
    assert reply is not None
    if reply.from_user.id != bot.id:  # type: ignore[union-attr]
        return
    await _comment(message, session, user, tr, message.text or message.caption or "", quiet=True)
    if await state.get_state() is not None:
        # The card's "Comment" pressed in the room asked in place of the card: this reply was the
        # answer; the card comes back where the question was.
        await state.clear()
        room = await _room(session, message)
        if room is not None and reply.message_id == room.card_message_id:
            text, markup = await room_card(session, user, tr, room.owner_type, room.owner_id)
            await bot.edit_message_text(
                text, chat_id=room.chat_id, message_id=reply.message_id, reply_markup=markup
            )


@router.message(Command("unbind"))
async def unbind(message: Message, session: AsyncSession, user: User, bot: Bot, tr: Translator) -> None:
    room, item = await _room_item(session, message, user, tr)
    if room is None:
        return
    try:
        await rooms_service.unbind_by(session, user, room)
    except RoomRefused as exc:
        await message.reply(refusal(tr, exc))
        return
    await message.answer(tr("rooms.unbound", ref=esc(item.ref)))


async def _switch(
    message: Message, command: CommandObject, session: AsyncSession, user: User, tr: Translator, option: str
) -> None:
    room, _item = await _room_item(session, message, user, tr)
    if room is None:
        return
    texts = SWITCHES[option]
    arg = (command.args or "").strip().lower()
    if arg not in ("on", "off"):
        state = tr(texts[0]) if getattr(room, option) else tr(texts[1])
        await message.answer(tr(texts[2], state=state))
        return
    try:
        await rooms_service.set_option(session, user, room, **{option: arg == "on"})
    except RoomRefused as exc:
        await message.reply(refusal(tr, exc))
        return
    await message.answer(tr(texts[0]) if arg == "on" else tr(texts[1]))


# A room's opt-in -> its (on, off, usage) texts.
SWITCHES = {
    "reminders": (N_("rooms.reminders.on"), N_("rooms.reminders.off"), N_("rooms.reminders.usage")),
    "log_messages": (N_("rooms.log.on"), N_("rooms.log.off"), N_("rooms.log.usage")),
}


@router.message(Command("reminders"))
async def reminders(
    message: Message, command: CommandObject, session: AsyncSession, user: User, tr: Translator
) -> None:
    await _switch(message, command, session, user, tr, "reminders")


@router.message(Command("log"))
async def log_messages(
    message: Message, command: CommandObject, session: AsyncSession, user: User, tr: Translator
) -> None:
    await _switch(message, command, session, user, tr, "log_messages")


@router.message(Command("status"))
async def status(message: Message, session: AsyncSession, user: User, tr: Translator) -> None:
    if user.role not in (Role.HEAD, Role.ADMIN):
        await message.reply(tr("rooms.status.heads_only"))
        return
    room, item = await _room_item(session, message, user, tr)
    if room is None:
        return
    lines = [tr("rooms.status.title", ref=esc(item.ref), title=esc(truncate(item.display_name, 120)))]
    stages = list(await pipelines_service.list_stages(session, item.pipeline_id))
    stage = next((s for s in stages if s.id == item.stage_id), None)
    lines.append(tr("card.stage", stage=stage_progress(tr, stages, stage)))
    if item.amount is not None:
        lines.append(tr("card.amount", amount=format_money(item.amount, item.currency, tr.language)))
    open_ones = await activities_service.list_open_activities(session, user, room.owner_type, room.owner_id)
    now = utcnow()
    if open_ones:
        nearest = open_ones[0]
        subject = esc(truncate(nearest.subject or "", 80))
        lines.append(tr("rooms.status.next", when=format_dt(nearest.deadline, user), subject=subject))
    else:
        lines.append(tr("rooms.status.no_next"))
    overdue = sum(1 for a in open_ones if a.deadline < now)
    lines.append(tr("rooms.status.overdue", count=overdue))
    await message.answer("\n".join(lines))


class LoggedRoom(Filter):
    """A plain message in a room that opted in to logging (seen only when privacy mode is off or
    the bot is an administrator)."""

    async def __call__(self, message: Message, session: AsyncSession, **_: Any) -> bool | dict[str, Any]:
        if (message.text or "").startswith("/") or not (message.text or message.caption or file_of(message)):
            return False
        room = await _room(session, message)
        return {"room": room} if room is not None and room.log_messages else False


@router.message(LoggedRoom())
async def log_plain_message(message: Message, session: AsyncSession, user: User, room: Room) -> None:
    """Logged quietly as the author's comment: no answer in the room for every line."""
    try:
        await rooms_service.room_item(session, user, room)
    except (AccessDenied, NotFound):
        return  # someone without access talks in the room: read, not logged
    file = file_of(message)
    with room_feed.acting_in_room(room.id):
        await comments_service.add_comment(
            session,
            user,
            room.owner_type,
            room.owner_id,
            message.text or message.caption or "",
            files=[file] if file else [],
        )
