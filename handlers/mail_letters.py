"""Letters as people see them: the notification of an incoming letter (Reply / Open / Done), a
letter's screen, its attachments sent as documents on request, and the letters of a card.

Everything in a letter came from outside: every piece is escaped; HTML letters were turned into
text by crm_core before they got here. Every button is re-authorised through crm_core."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiogram import F, Router
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import NotFound
from crm_core.models.activities import Activity
from crm_core.models.items import ItemType
from crm_core.models.mail import Letter, LetterDirection
from crm_core.models.notifications import Notification
from crm_core.models.users import User
from crm_core.services import activities as activity_service
from crm_core.services import delivery as delivery_service
from crm_core.services.mail import incoming, outgoing
from crm_core.services.mail.parse import split_quote
from handlers import notify_render
from handlers.callbacks import CardAction, CardCB
from handlers.card_render import back_to_card, load_visible
from handlers.mail_common import ComposeAction, ComposeCB, LetterAction, LetterCB
from handlers.notify_render import item_line, open_button
from handlers.render import esc, truncate
from handlers.texts import Translator
from handlers.ui import show
from scheduler.ports import OutgoingMessage

router = Router(name="mail_letters")

FRESH_LIMIT = 1500
QUOTE_LIMIT = 600
NOTED_CUTS = 5  # attachments over the limit named in a message (the rest: in the letter's list)


def letter_text(tr: Translator, letter: Letter, *, header: str = "", full: bool = False) -> str:
    """A letter as HTML: who, subject, its fresh text, the quote folded, what was cut."""
    lines = [header] if header else []
    if letter.direction == LetterDirection.IN:
        sender = f"{letter.from_name} <{letter.from_addr}>" if letter.from_name else letter.from_addr
        lines.append(tr("mail.from", sender=esc(truncate(sender, 200))))
    else:
        lines.append(tr("mail.to", to=esc(truncate(", ".join(letter.to_addrs), 300))))
    if letter.cc_addrs:
        lines.append(tr("mail.cc", cc=esc(truncate(", ".join(letter.cc_addrs), 300))))
    lines.append(tr("mail.subject", subject=esc(truncate(letter.subject or "—", 300))))
    notes = letter.notes or {}
    if notes.get("unparsable"):
        lines.append(tr("mail.note.unparsable"))
    fresh, quoted = split_quote(letter.body or "")
    limit = FRESH_LIMIT * (2 if full else 1)
    if fresh:
        lines.append("")
        lines.append(esc(truncate(fresh, limit)))
    if quoted:
        lines.append(f"<blockquote expandable>{esc(truncate(quoted, QUOTE_LIMIT))}</blockquote>")
    if notes.get("body_cut") or len(fresh) > limit:
        lines.append(tr("mail.note.cut"))
    if notes.get("too_big"):
        lines.append(tr("mail.note.too_big", size=_mb(int(notes["too_big"]))))
    for name in (notes.get("attachments_cut") or [])[:NOTED_CUTS]:
        lines.append(tr("mail.note.attachment_cut", name=esc(truncate(str(name), 100))))
    return "\n".join(lines)


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f}"


def letter_buttons(
    tr: Translator, letter: Letter, files: int, *, activity_open: bool
) -> list[list[dict[str, Any]]]:
    def data(action: LetterAction) -> str:
        return LetterCB(action=action, id=letter.id).pack()

    rows: list[list[dict[str, Any]]] = [
        [{"text": tr("mail.btn.reply"), "callback_data": data(LetterAction.REPLY)}]
    ]
    if letter.owner_type is not None and letter.owner_id is not None:
        rows[0].append(open_button(tr, letter.owner_type, letter.owner_id))
    if activity_open:
        rows.append([{"text": tr("mail.btn.done"), "callback_data": data(LetterAction.DONE)}])
    if files:
        rows.append([{"text": tr("mail.btn.files", count=files), "callback_data": data(LetterAction.FILES)}])
    return rows


def _markup(rows: list[list[dict[str, Any]]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(**b) for b in row] for row in rows])


async def _kept_files(session: AsyncSession, letter: Letter) -> int:
    return sum(1 for a in await incoming.attachments_of(session, letter.id) if a.data is not None)


async def _activity_open(session: AsyncSession, letter: Letter) -> bool:
    if letter.activity_id is None:
        return False
    activity = await session.get(Activity, letter.activity_id)
    return activity is not None and not activity.completed


async def _screen(
    session: AsyncSession, tr: Translator, letter: Letter, *, header: str = ""
) -> tuple[str, list[list[dict[str, Any]]]]:
    text = letter_text(tr, letter, header=header, full=not header)
    buttons = letter_buttons(
        tr, letter, await _kept_files(session, letter), activity_open=await _activity_open(session, letter)
    )
    return text, buttons


async def mail_notification(
    session: AsyncSession, notification: Notification, user: User, *, now: datetime
) -> list[OutgoingMessage]:
    """The push of an incoming letter (category mail_in) for the responsible."""
    tr = Translator(user.language)
    payload = dict(notification.payload or {})
    letter = await session.get(Letter, int(payload.get("letter_id") or 0))
    if letter is None or letter.owner_type is None or letter.owner_id is None:
        return []
    owner = (ItemType(letter.owner_type), letter.owner_id)
    item = (await delivery_service.load_items(session, [owner])).get(owner)
    if item is None:
        return []
    header = tr("mail.n.incoming", item=item_line(tr, item))
    text, buttons = await _screen(session, tr, letter, header=header)
    return [OutgoingMessage(text, buttons)]


# --- buttons --------------------------------------------------------------------------------------


@router.callback_query(LetterCB.filter(F.action == LetterAction.SHOW))
async def show_letter(
    callback: CallbackQuery, callback_data: LetterCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    letter = await outgoing.letter_for(session, user, callback_data.id)
    text, buttons = await _screen(session, tr, letter)
    if letter.owner_type is not None and letter.owner_id is not None:
        back = CardCB(type=ItemType(letter.owner_type), id=letter.owner_id, action=CardAction.EMAIL)
        buttons.append([{"text": tr("menu.back"), "callback_data": back.pack()}])
    await show(callback, text, _markup(buttons))


@router.callback_query(LetterCB.filter(F.action == LetterAction.DONE))
async def complete(
    callback: CallbackQuery,
    callback_data: LetterCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    letter = await outgoing.letter_for(session, user, callback_data.id)
    if letter.activity_id is not None:
        # Re-checked there: the activity's item must be one the user may edit.
        await activity_service.complete_activity(session, user, letter.activity_id)
    callback_answer.text = tr("mail.answer.done")
    if callback.message is not None:
        await callback.message.edit_reply_markup(  # type: ignore[union-attr]
            reply_markup=_markup(
                letter_buttons(tr, letter, await _kept_files(session, letter), activity_open=False)
            )
        )


@router.callback_query(LetterCB.filter(F.action == LetterAction.FILES))
async def files(
    callback: CallbackQuery, callback_data: LetterCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    letter = await outgoing.letter_for(session, user, callback_data.id)
    rows = [
        [
            InlineKeyboardButton(
                text=f"📎 {truncate(a.name, 40)} ({_mb(a.size)} MB)",
                callback_data=LetterCB(action=LetterAction.FILE, id=letter.id, n=a.id).pack(),
            )
        ]
        for a in await incoming.attachments_of(session, letter.id)
        if a.data is not None
    ]
    rows.append(
        [
            InlineKeyboardButton(
                text=tr("menu.back"), callback_data=LetterCB(action=LetterAction.SHOW, id=letter.id).pack()
            )
        ]
    )
    text = tr("mail.files.title", subject=esc(truncate(letter.subject or "—", 200)))
    await show(callback, text, InlineKeyboardMarkup(inline_keyboard=rows))


@router.callback_query(LetterCB.filter(F.action == LetterAction.FILE))
async def send_file(
    callback: CallbackQuery, callback_data: LetterCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    letter = await outgoing.letter_for(session, user, callback_data.id)
    found = [a for a in await incoming.attachments_of(session, letter.id) if a.id == callback_data.n]
    if not found or found[0].data is None:
        raise NotFound("attachment", letter_id=letter.id)
    att = found[0]
    if callback.message is not None:
        await callback.message.answer_document(  # type: ignore[union-attr]
            BufferedInputFile(att.data, filename=att.name or "attachment")
        )


@router.callback_query(CardCB.filter(F.action == CardAction.EMAIL))
async def card_letters(
    callback: CallbackQuery, callback_data: CardCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    """The card's Email screen: write a letter, or open one of the latest."""
    item = await load_visible(session, user, callback_data.type, callback_data.id)
    letters = await outgoing.letters_of(session, user, item)
    lines = [tr("mail.card.title", ref=esc(item.ref), name=esc(truncate(item.display_name, 100)))]
    rows = [
        [
            InlineKeyboardButton(
                text=tr("mail.btn.write"),
                callback_data=ComposeCB(action=ComposeAction.NEW, t=item.ITEM_TYPE, id=item.id).pack(),
            )
        ]
    ]
    if not letters:
        lines.append(tr("mail.card.none"))
    for letter in letters:
        arrow = "⬅️" if letter.direction == LetterDirection.IN else "➡️"
        rows.append(
            [
                InlineKeyboardButton(
                    text=f"{arrow} {truncate(letter.subject or '—', 40)}",
                    callback_data=LetterCB(action=LetterAction.SHOW, id=letter.id).pack(),
                )
            ]
        )
    rows.append([back_to_card(tr, item.ITEM_TYPE, item.id)])
    await show(callback, "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows))


notify_render.EXTRA_RENDERERS[incoming.MAIL_IN] = mail_notification

__all__ = ["LetterAction", "LetterCB", "letter_text", "mail_notification", "router"]
