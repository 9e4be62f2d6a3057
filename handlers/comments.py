"""Comments from the card: text with @mentions of colleagues, or a file/photo with a caption;
editing and deleting one's own (an admin may delete any) from its timeline entry.

Mentions: `@username` in the text is resolved by crm_core (unknown names stay plain text);
a Telegram text_mention (a colleague picked without a username) is resolved here to the CRM user
with that Telegram id. Files are stored by Telegram reference (file_id, file_unique_id, name,
size, mime), never downloaded.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, MessageEntity
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import AccessDenied, NotFound
from crm_core.models.items import ItemType
from crm_core.models.users import User
from crm_core.services import comments as comments_service
from crm_core.services.comments import FileRef
from handlers.callbacks import CardAction, CardCB
from handlers.card_render import card_screen, item_label, load_visible, open_card
from handlers.render import MESSAGE_LIMIT, esc, truncate, visible_length
from handlers.texts import Translator
from handlers.timeline import (
    PHOTO_PREFIX,
    CmAction,
    CmCB,
    comment_screen,
    load_comment,
    may_change_comment,
    timeline_screen,
)
from handlers.ui import reply, show

router = Router(name="comments")

PROMPT_QUOTE = 500


class CommentForm(StatesGroup):
    text = State()  # text, or a file/photo with an optional caption


class CommentEdit(StatesGroup):
    text = State()


def _item_type(raw: str) -> ItemType:
    try:
        return ItemType(raw)
    except ValueError as exc:
        raise NotFound(item_type=raw) from exc


def _cancel_button(tr: Translator, action: CmAction, **kw: object) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=tr("cm.btn.cancel"), callback_data=CmCB(action=action, **kw).pack())]
        ]  # type: ignore[arg-type]
    )


def file_of(message: Message) -> FileRef | None:
    """The file a message carries, by Telegram reference."""
    if message.document is not None:
        d = message.document
        return FileRef(d.file_id, d.file_unique_id, d.file_name or "document", d.file_size, d.mime_type)
    if message.photo:
        p = message.photo[-1]  # the largest size
        return FileRef(
            p.file_id, p.file_unique_id, f"{PHOTO_PREFIX}{p.width}x{p.height}.jpg", p.file_size, "image/jpeg"
        )
    for media, default in (
        (message.video, "video.mp4"),
        (message.audio, "audio"),
        (message.voice, "voice.ogg"),
    ):
        if media is not None:
            name = getattr(media, "file_name", None) or default
            return FileRef(media.file_id, media.file_unique_id, name, media.file_size, media.mime_type)
    return None


async def mentioned_ids(session: AsyncSession, entities: list[MessageEntity] | None) -> list[int]:
    """CRM users picked by a text_mention (no @username to go by); strangers are ignored."""
    tg_ids = {e.user.id for e in entities or () if e.type == "text_mention" and e.user is not None}
    if not tg_ids:
        return []
    rows = await session.scalars(
        select(User.id).where(User.telegram_id.in_(tg_ids), User.is_active.is_(True))
    )
    return list(rows)


def _with_note(note: str, text: str) -> str:
    """A short confirmation above a screen, unless it would not fit."""
    combined = f"{note}\n\n{text}"
    return combined if visible_length(combined) <= MESSAGE_LIMIT else text


# --- adding ----------------------------------------------------------------------------------------


@router.callback_query(CardCB.filter(F.action == CardAction.COMMENT))
async def start_comment(
    callback: CallbackQuery,
    callback_data: CardCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
) -> None:
    item = await load_visible(session, user, callback_data.type, callback_data.id, for_edit=True)
    await state.clear()
    await state.set_state(CommentForm.text)
    await state.update_data(cm_t=str(item.ITEM_TYPE), cm_id=item.id)
    await show(
        callback,
        tr("cm.prompt", item=item_label(tr, item)),
        _cancel_button(tr, CmAction.CANCEL_ADD, t=str(item.ITEM_TYPE), id=item.id),
    )


@router.message(CommentForm.text, F.chat.type == "private", ~F.text.startswith("/"))
async def on_comment(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    data = await state.get_data()
    item_type, item_id = _item_type(str(data.get("cm_t"))), int(data.get("cm_id") or 0)
    text = message.text or message.caption or ""
    entities = message.entities or message.caption_entities
    ref = file_of(message)
    if not text.strip() and ref is None:
        await message.answer(
            tr("cm.need_content"),
            reply_markup=_cancel_button(tr, CmAction.CANCEL_ADD, t=str(item_type), id=item_id),
        )
        return
    if len(text) > comments_service.MAX_COMMENT_LENGTH:
        text = truncate(text, comments_service.MAX_COMMENT_LENGTH)
    await comments_service.add_comment(
        session,
        user,
        item_type,
        item_id,
        text,
        mention_user_ids=await mentioned_ids(session, entities),
        files=[ref] if ref is not None else [],
    )
    await state.clear()
    if message.media_group_id and ref is not None:
        # The rest of an album arrives as separate messages after the form ended: remember it.
        await state.update_data(cm_album=message.media_group_id, cm_t=str(item_type), cm_id=item_id)
    note = tr("cm.added_file") if ref is not None else tr("cm.added")
    card_text, markup = await card_screen(session, user, tr, item_type, item_id)
    await reply(message, _with_note(note, card_text), markup)


async def _rest_of_album(message: Message, state: FSMContext) -> bool:
    return bool(message.media_group_id) and (await state.get_data()).get("cm_album") == message.media_group_id


@router.message(StateFilter(None), F.chat.type == "private", _rest_of_album)
async def on_album_part(message: Message, session: AsyncSession, user: User, state: FSMContext) -> None:
    """Another file of the album whose first file made a comment: one more comment with it, quietly
    (the card with the confirmation is already there)."""
    data = await state.get_data()
    ref = file_of(message)
    if ref is None:
        return
    await comments_service.add_comment(
        session,
        user,
        _item_type(str(data.get("cm_t"))),
        int(data.get("cm_id") or 0),
        truncate(message.caption or "", comments_service.MAX_COMMENT_LENGTH),
        mention_user_ids=await mentioned_ids(session, message.caption_entities),
        files=[ref],
    )


@router.callback_query(CmCB.filter(F.action == CmAction.CANCEL_ADD))
async def cancel_comment(
    callback: CallbackQuery,
    callback_data: CmCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    if await state.get_state() == CommentForm.text.state:
        await state.clear()
    callback_answer.text = tr("cancelled")
    await open_card(callback, session, user, tr, _item_type(callback_data.t), callback_data.id)


# --- editing and deleting -------------------------------------------------------------------------


async def _own_comment(session: AsyncSession, user: User, comment_id: int):  # noqa: ANN202
    """The comment if the user may change it: the author, or an admin (crm_core checks again)."""
    comment = await load_comment(session, user, comment_id)
    if not may_change_comment(user, comment):
        raise AccessDenied("only the author or an admin", comment_id=comment_id)
    return comment


@router.callback_query(CmCB.filter(F.action == CmAction.EDIT))
async def start_edit(
    callback: CallbackQuery,
    callback_data: CmCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
) -> None:
    comment = await _own_comment(session, user, callback_data.v)
    if comment.author_id != user.id:
        # An admin may delete anyone's comment but not put words in their mouth.
        raise AccessDenied("only the author edits", comment_id=comment.id)
    await state.clear()
    await state.set_state(CommentEdit.text)
    await state.update_data(cm_edit=comment.id, cm_f=callback_data.f, cm_p=callback_data.p)
    await show(
        callback,
        tr("cm.edit_prompt", text=esc(truncate(comment.text, PROMPT_QUOTE)) or "—"),
        _cancel_button(tr, CmAction.CANCEL_EDIT, v=comment.id, f=callback_data.f, p=callback_data.p),
    )


@router.message(CommentEdit.text, F.chat.type == "private", F.text, ~F.text.startswith("/"))
async def on_edit(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    data = await state.get_data()
    comment_id = int(data.get("cm_edit") or 0)
    text = truncate(message.text or "", comments_service.MAX_COMMENT_LENGTH)
    await comments_service.edit_comment(
        session, user, comment_id, text, mention_user_ids=await mentioned_ids(session, message.entities)
    )
    await state.clear()
    screen, markup = await comment_screen(
        session, user, tr, comment_id, str(data.get("cm_f") or ""), int(data.get("cm_p") or 0)
    )
    await reply(message, _with_note(tr("cm.saved"), screen), markup)


@router.message(CommentEdit.text, F.chat.type == "private", ~F.text.startswith("/"))
async def on_edit_not_text(message: Message, tr: Translator, state: FSMContext) -> None:
    data = await state.get_data()
    await message.answer(
        tr("cm.edit_need_text"),
        reply_markup=_cancel_button(
            tr,
            CmAction.CANCEL_EDIT,
            v=int(data.get("cm_edit") or 0),
            f=str(data.get("cm_f") or ""),
            p=int(data.get("cm_p") or 0),
        ),
    )


@router.callback_query(CmCB.filter(F.action == CmAction.CANCEL_EDIT))
async def cancel_edit(
    callback: CallbackQuery,
    callback_data: CmCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    if await state.get_state() == CommentEdit.text.state:
        await state.clear()
    callback_answer.text = tr("cancelled")
    await show(
        callback, *await comment_screen(session, user, tr, callback_data.v, callback_data.f, callback_data.p)
    )


@router.callback_query(CmCB.filter(F.action == CmAction.DELETE_ASK))
async def ask_delete(
    callback: CallbackQuery, callback_data: CmCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    comment = await _own_comment(session, user, callback_data.v)
    kw = {"v": comment.id, "f": callback_data.f, "p": callback_data.p}
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=tr("cm.btn.confirm_delete"), callback_data=CmCB(action=CmAction.DELETE, **kw).pack()
                ),  # type: ignore[arg-type]
                InlineKeyboardButton(
                    text=tr("cm.btn.cancel"), callback_data=CmCB(action=CmAction.CANCEL_EDIT, **kw).pack()
                ),  # type: ignore[arg-type]
            ]
        ]
    )
    quote = esc(truncate(" ".join(comment.text.split()), 200)) or "—"
    await show(callback, tr("cm.delete_ask", text=quote), markup)


@router.callback_query(CmCB.filter(F.action == CmAction.DELETE))
async def delete(
    callback: CallbackQuery,
    callback_data: CmCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    comment = await load_comment(session, user, callback_data.v)
    owner_type, owner_id = comment.owner_type, comment.owner_id
    await comments_service.delete_comment(session, user, comment.id)
    callback_answer.text = tr("cm.deleted")
    await show(
        callback,
        *await timeline_screen(session, user, tr, owner_type, owner_id, callback_data.f, callback_data.p),
    )
