"""Offering a room from an item's card ("Discuss in a group", in the card's "More" screen): a
startgroup link carrying a single-use token, the chat picker (request_chat -> chat_shared), or a
new topic in the team's forum. Every step re-checks access with crm_core."""

from __future__ import annotations

import enum
import secrets

from aiogram import Bot, F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    CallbackQuery,
    ChatAdministratorRights,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    KeyboardButtonRequestChat,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import RoomRefused
from crm_core.models.items import ItemType
from crm_core.models.users import User
from crm_core.services import room_feed
from crm_core.services import rooms as rooms_service
from handlers.callbacks import Unpacked
from handlers.card_render import back_to_card, load_visible
from handlers.card_ui import button, titled
from handlers.render import esc
from handlers.rooms_bind import bot_rights, finish_binding
from handlers.rooms_group import refusal
from handlers.texts import Translator
from handlers.ui import show

router = Router(name="rooms")

# What the startgroup link and the picker ask for the bot: pin the card, invite people, topics.
ADMIN_RIGHTS = "pin_messages+invite_users+manage_topics"
PICK_KEY = "room_pick"
TOPIC_NAME_LIMIT = 128


class RoomAction(enum.StrEnum):
    OFFER = "o"
    PICK = "p"
    FORUM = "f"
    UNBIND = "u"


class RoomCB(Unpacked, CallbackData, prefix="ro"):
    a: RoomAction
    t: ItemType
    id: int


def discuss_button(tr: Translator, item_type: ItemType, item_id: int) -> InlineKeyboardButton:
    """For the card's "More" screen (leads and deals)."""
    return button(tr("rooms.btn.discuss"), RoomCB(a=RoomAction.OFFER, t=item_type, id=item_id))


def _alert(answer: CallbackAnswer, text: str) -> None:
    answer.text = text
    answer.show_alert = True


def _rights() -> ChatAdministratorRights:
    """Pin the card, invite the team, open topics; every other right (the set grows with the Bot
    API, and aiogram requires each) is not asked for."""
    wanted = {"can_invite_users", "can_pin_messages", "can_manage_topics"}
    fields = {
        name: False for name, info in ChatAdministratorRights.model_fields.items() if info.is_required()
    }
    return ChatAdministratorRights(**{**fields, **dict.fromkeys(wanted, True)})


@router.callback_query(RoomCB.filter(F.a == RoomAction.OFFER))
async def offer(
    callback: CallbackQuery,
    callback_data: RoomCB,
    session: AsyncSession,
    user: User,
    bot: Bot,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    t, i = callback_data.t, callback_data.id
    await load_visible(session, user, t, i)  # no access looks like no item, whatever the data says
    room = await room_feed.room_of(session, t, i)
    if room is not None:
        item = await rooms_service.room_item(session, user, room)
        text = tr("rooms.offer.bound", ref=esc(item.ref), title=esc(room.title))
        rows = []
        if rooms_service.may_unbind(user, item):
            rows.append([button(tr("rooms.btn.unbind"), RoomCB(a=RoomAction.UNBIND, t=t, id=i))])
        rows.append([back_to_card(tr, t, i)])
        await show(callback, text, InlineKeyboardMarkup(inline_keyboard=rows))
        return
    try:
        token = await rooms_service.create_token(session, user, t, i)
    except RoomRefused as exc:
        _alert(callback_answer, refusal(tr, exc))
        return
    item = await rooms_service.room_item_of(session, user, t, i)
    me = await bot.me()
    link = f"https://t.me/{me.username}?startgroup={token}&admin={ADMIN_RIGHTS}"
    rows = [
        [InlineKeyboardButton(text=tr("rooms.btn.add_to_group"), url=link)],
        [button(tr("rooms.btn.pick"), RoomCB(a=RoomAction.PICK, t=t, id=i))],
    ]
    if await rooms_service.forum(session) is not None:
        rows.append([button(tr("rooms.btn.forum"), RoomCB(a=RoomAction.FORUM, t=t, id=i))])
    rows.append([back_to_card(tr, t, i)])
    text = tr("rooms.offer", ref=esc(item.ref), title=titled(item))
    await show(callback, text, InlineKeyboardMarkup(inline_keyboard=rows))


@router.callback_query(RoomCB.filter(F.a == RoomAction.PICK))
async def pick(
    callback: CallbackQuery,
    callback_data: RoomCB,
    session: AsyncSession,
    user: User,
    state: FSMContext,
    tr: Translator,
) -> None:
    await load_visible(session, user, callback_data.t, callback_data.id)
    item = await rooms_service.bindable_item(session, user, callback_data.t, callback_data.id)
    request_id = secrets.randbelow(2**31 - 1) + 1
    await state.update_data({PICK_KEY: [str(item.ITEM_TYPE), item.id, request_id]})
    keyboard = ReplyKeyboardMarkup(
        keyboard=[
            [
                KeyboardButton(
                    text=tr("rooms.pick.button"),
                    request_chat=KeyboardButtonRequestChat(
                        request_id=request_id,
                        chat_is_channel=False,
                        bot_administrator_rights=_rights(),
                        user_administrator_rights=None,
                        request_title=True,
                    ),
                )
            ]
        ],
        resize_keyboard=True,
        one_time_keyboard=True,
    )
    assert callback.message is not None
    await callback.message.answer(tr("rooms.pick.prompt", ref=esc(item.ref)), reply_markup=keyboard)


@router.message(F.chat.type == "private", F.chat_shared)
async def chat_shared(
    message: Message, session: AsyncSession, user: User, bot: Bot, state: FSMContext, tr: Translator
) -> None:
    shared = message.chat_shared
    assert shared is not None
    data = await state.get_data()
    pending = data.get(PICK_KEY)
    if not pending or int(pending[2]) != shared.request_id:
        await message.answer(tr("rooms.pick.stale"), reply_markup=ReplyKeyboardRemove())
        return
    await state.update_data({PICK_KEY: None})
    try:
        item = await rooms_service.bindable_item(session, user, ItemType(pending[0]), int(pending[1]))
        room = await rooms_service.bind(session, user, item, chat_id=shared.chat_id, title=shared.title or "")
    except RoomRefused as exc:
        await message.answer(refusal(tr, exc), reply_markup=ReplyKeyboardRemove())
        return
    await finish_binding(bot, session, user, room, item)
    await message.answer(
        tr("rooms.bound", ref=esc(item.ref), title=esc(room.title)), reply_markup=ReplyKeyboardRemove()
    )


@router.callback_query(RoomCB.filter(F.a == RoomAction.FORUM))
async def to_forum(
    callback: CallbackQuery,
    callback_data: RoomCB,
    session: AsyncSession,
    user: User,
    bot: Bot,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    await load_visible(session, user, callback_data.t, callback_data.id)
    item = await rooms_service.bindable_item(session, user, callback_data.t, callback_data.id)
    forum = await rooms_service.forum(session)
    if forum is None:
        _alert(callback_answer, tr("rooms.forum.none"))
        return
    _pin, _invite, topics = await bot_rights(bot, forum.chat_id)
    if not topics:
        _alert(callback_answer, tr("rooms.forum.need_rights"))
        return
    name = f"{item.ref} {item.display_name}"[:TOPIC_NAME_LIMIT]
    topic = await bot.create_forum_topic(forum.chat_id, name)
    room = await rooms_service.bind(
        session, user, item, chat_id=forum.chat_id, title=topic.name, thread_id=topic.message_thread_id
    )
    await finish_binding(bot, session, user, room, item)
    text = tr("rooms.bound", ref=esc(item.ref), title=esc(room.title))
    await show(
        callback, text, InlineKeyboardMarkup(inline_keyboard=[[back_to_card(tr, item.ITEM_TYPE, item.id)]])
    )


@router.callback_query(RoomCB.filter(F.a == RoomAction.UNBIND))
async def unbind(
    callback: CallbackQuery,
    callback_data: RoomCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    await load_visible(session, user, callback_data.t, callback_data.id)
    room = await room_feed.room_of(session, callback_data.t, callback_data.id)
    if room is None:
        _alert(callback_answer, tr("rooms.not_bound"))
        return
    try:
        item = await rooms_service.unbind_by(session, user, room)
    except RoomRefused as exc:
        _alert(callback_answer, refusal(tr, exc))
        return
    text = tr("rooms.unbound", ref=esc(item.ref))
    await show(
        callback, text, InlineKeyboardMarkup(inline_keyboard=[[back_to_card(tr, item.ITEM_TYPE, item.id)]])
    )
