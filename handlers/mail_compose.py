"""Writing a letter from a card: Email -> recipient (the item's or its client's addresses, or typed)
-> subject -> text -> optional copy and attachments (documents and photos sent into the chat)
-> Send. A reply (from the notification or a letter) starts at the text, threaded. A failure says
why and keeps the draft: Send again retries it. The rules live in crm_core.services.mail."""

from __future__ import annotations

from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import NotFound, ValidationFailed
from crm_core.models.items import ItemType
from crm_core.models.users import User
from crm_core.services.mail import outgoing, rules
from crm_core.services.mail.crypto import MailKeyMissing
from crm_core.services.mail.transport import MailServerError
from handlers.card_render import back_to_card, load_visible
from handlers.context import HandlerOptions
from handlers.errors import validation_detail
from handlers.mail_common import ComposeAction, ComposeCB, LetterAction, LetterCB, server_error_text
from handlers.render import esc, truncate
from handlers.texts import N_, Translator
from handlers.ui import show

router = Router(name="mail_compose")

DRAFT = "mail_draft"


class ComposeForm(StatesGroup):
    recipient = State()
    subject = State()
    text = State()
    extras = State()  # copy, attachments, send
    cc = State()


def _btn(text: str, action: ComposeAction, **kw: Any) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=ComposeCB(action=action, **kw).pack())


def _cancel_row(tr: Translator) -> list[InlineKeyboardButton]:
    return [_btn(tr("mail.btn.cancel"), ComposeAction.CANCEL)]


async def _draft(state: FSMContext) -> dict[str, Any]:
    data = await state.get_data()
    draft = data.get(DRAFT)
    if not isinstance(draft, dict):
        raise NotFound("draft")
    return draft


def _summary(tr: Translator, draft: dict[str, Any]) -> str:
    lines = [
        tr("mail.draft.title"),
        tr("mail.to", to=esc(", ".join(draft["to"]))),
    ]
    if draft["cc"]:
        lines.append(tr("mail.cc", cc=esc(", ".join(draft["cc"]))))
    lines.append(tr("mail.subject", subject=esc(truncate(draft["subject"], 300))))
    lines.append("")
    lines.append(esc(truncate(draft["text"], 1000)))
    for f in draft["files"]:
        lines.append(f"📎 {esc(truncate(f['name'], 100))}")
    lines.append("")
    lines.append(tr("mail.draft.hint", limit=f"{rules.OUTGOING_ATTACHMENTS_MAX / 1024 / 1024:.1f}"))
    return "\n".join(lines)


def _extras_markup(tr: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_btn(tr("mail.btn.send"), ComposeAction.SEND)],
            [_btn(tr("mail.btn.cc"), ComposeAction.CC)],
            _cancel_row(tr),
        ]
    )


async def _show_extras(
    event: Message | CallbackQuery, state: FSMContext, tr: Translator, note: str = ""
) -> None:
    draft = await _draft(state)
    await state.set_state(ComposeForm.extras)
    text = (note + "\n\n" if note else "") + _summary(tr, draft)
    if isinstance(event, Message):
        await event.answer(text, reply_markup=_extras_markup(tr))
    else:
        await show(event, text, _extras_markup(tr))


# --- starting ------------------------------------------------------------------------------------


@router.callback_query(ComposeCB.filter(F.action == ComposeAction.NEW))
async def start(
    callback: CallbackQuery,
    callback_data: ComposeCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
) -> None:
    item = await load_visible(session, user, callback_data.t, callback_data.id, for_edit=True)
    suggestions = await outgoing.suggested_recipients(session, user, item)
    await state.set_state(ComposeForm.recipient)
    await state.update_data(
        {
            DRAFT: {
                "t": str(item.ITEM_TYPE),
                "id": item.id,
                "to": [],
                "cc": [],
                "subject": "",
                "text": "",
                "files": [],
                "irt": None,
                "refs": [],
            }
        }
    )
    rows = [
        [_btn(f"✉️ {truncate(addr, 50)}", ComposeAction.TO, t=item.ITEM_TYPE, id=item.id, n=k)]
        for k, addr in enumerate(suggestions[:8])
    ]
    rows.append(_cancel_row(tr))
    key = N_("mail.ask.recipient") if suggestions else N_("mail.ask.recipient_typed")
    text = tr(key, ref=esc(item.ref), name=esc(truncate(item.display_name, 100)))
    await show(callback, text, InlineKeyboardMarkup(inline_keyboard=rows))


@router.callback_query(LetterCB.filter(F.action == LetterAction.REPLY))
async def reply(
    callback: CallbackQuery,
    callback_data: LetterCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
) -> None:
    item, draft = await outgoing.reply_draft(session, user, callback_data.id)
    await state.set_state(ComposeForm.text)
    await state.update_data(
        {
            DRAFT: {
                "t": str(item.ITEM_TYPE),
                "id": item.id,
                "to": draft.to,
                "cc": [],
                "subject": draft.subject,
                "text": "",
                "files": [],
                "irt": draft.in_reply_to,
                "refs": draft.references,
            }
        }
    )
    text = tr("mail.ask.reply_text", to=esc(", ".join(draft.to)), subject=esc(truncate(draft.subject, 300)))
    if callback.message is not None:
        await callback.message.answer(
            text, reply_markup=InlineKeyboardMarkup(inline_keyboard=[_cancel_row(tr)])
        )  # type: ignore[union-attr]


# --- the steps -----------------------------------------------------------------------------------


@router.callback_query(ComposeCB.filter(F.action == ComposeAction.TO), StateFilter(ComposeForm.recipient))
async def pick_recipient(
    callback: CallbackQuery,
    callback_data: ComposeCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
) -> None:
    draft = await _draft(state)
    item = await load_visible(session, user, draft["t"], draft["id"], for_edit=True)
    suggestions = await outgoing.suggested_recipients(session, user, item)
    if not 0 <= callback_data.n < len(suggestions):
        raise NotFound("recipient")
    draft["to"] = [suggestions[callback_data.n]]
    await state.update_data({DRAFT: draft})
    await state.set_state(ComposeForm.subject)
    text = tr("mail.ask.subject", to=esc(draft["to"][0]))
    await show(callback, text, InlineKeyboardMarkup(inline_keyboard=[_cancel_row(tr)]))


async def _typed(message: Message, tr: Translator, state: FSMContext, key: str, parse: Any) -> Any:
    """The typed value, read by crm_core's rule and kept in the draft under `key`; None (and the
    reason said) when it is invalid."""
    try:
        value = parse(message.text or "")
    except ValidationFailed as exc:
        await message.answer(tr("mail.invalid", detail=validation_detail(tr, exc)))
        return None
    draft = await _draft(state)
    draft[key] = value
    await state.update_data({DRAFT: draft})
    return value


@router.message(StateFilter(ComposeForm.recipient), F.text)
async def typed_recipient(message: Message, tr: Translator, state: FSMContext) -> None:
    found = await _typed(message, tr, state, "to", rules.parse_recipients)
    if found is None:
        return
    await state.set_state(ComposeForm.subject)
    await message.answer(
        tr("mail.ask.subject", to=esc(", ".join(found))),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[_cancel_row(tr)]),
    )


@router.message(StateFilter(ComposeForm.subject), F.text)
async def typed_subject(message: Message, tr: Translator, state: FSMContext) -> None:
    if await _typed(message, tr, state, "subject", rules.check_subject) is None:
        return
    await state.set_state(ComposeForm.text)
    await message.answer(
        tr("mail.ask.text"), reply_markup=InlineKeyboardMarkup(inline_keyboard=[_cancel_row(tr)])
    )


@router.message(StateFilter(ComposeForm.text), F.text)
async def typed_text(message: Message, tr: Translator, state: FSMContext) -> None:
    if await _typed(message, tr, state, "text", rules.check_text) is None:
        return
    await _show_extras(message, state, tr)


@router.callback_query(ComposeCB.filter(F.action == ComposeAction.CC), StateFilter(ComposeForm.extras))
async def ask_cc(callback: CallbackQuery, tr: Translator, state: FSMContext) -> None:
    await state.set_state(ComposeForm.cc)
    await show(callback, tr("mail.ask.cc"), InlineKeyboardMarkup(inline_keyboard=[_cancel_row(tr)]))


@router.message(StateFilter(ComposeForm.cc), F.text)
async def typed_cc(message: Message, tr: Translator, state: FSMContext) -> None:
    if await _typed(message, tr, state, "cc", rules.parse_recipients) is None:
        return
    await _show_extras(message, state, tr)


@router.message(StateFilter(ComposeForm.extras), F.document | F.photo)
async def attach(message: Message, tr: Translator, state: FSMContext) -> None:
    draft = await _draft(state)
    if message.document is not None:
        d = message.document
        ref = {
            "file_id": d.file_id,
            "name": d.file_name or "document",
            "mime": d.mime_type or "application/octet-stream",
            "size": d.file_size or 0,
        }
    else:
        p = (message.photo or [])[-1]
        ref = {
            "file_id": p.file_id,
            "name": f"photo_{p.file_unique_id}.jpg",
            "mime": "image/jpeg",
            "size": p.file_size or 0,
        }
    try:
        rules.check_attachments([f["size"] for f in draft["files"]] + [ref["size"]])
    except ValidationFailed:
        limit = f"{rules.OUTGOING_ATTACHMENTS_MAX / 1024 / 1024:.1f}"
        await message.answer(tr("mail.attach.too_big", limit=limit))
        return
    draft["files"].append(ref)
    await state.update_data({DRAFT: draft})
    await _show_extras(message, state, tr, tr("mail.attach.added", name=esc(truncate(ref["name"], 100))))


@router.message(StateFilter(ComposeForm.extras), F.text)
async def extras_text(message: Message, tr: Translator, state: FSMContext) -> None:
    await _show_extras(message, state, tr, tr("mail.extras.hint"))


@router.callback_query(ComposeCB.filter(F.action == ComposeAction.SEND), StateFilter(ComposeForm.extras))
async def send(
    callback: CallbackQuery,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    bot: Bot,
    options: HandlerOptions,
) -> None:
    draft = await _draft(state)
    files = []
    for f in draft["files"]:
        buffer = await bot.download(f["file_id"])
        assert buffer is not None
        files.append(outgoing.OutFile(f["name"], f["mime"], buffer.read()))
    letter_draft = outgoing.Draft(
        to=list(draft["to"]),
        cc=list(draft["cc"]),
        subject=draft["subject"],
        text=draft["text"],
        files=files,
        in_reply_to=draft["irt"],
        references=list(draft["refs"]),
    )
    item_type, item_id = ItemType(draft["t"]), int(draft["id"])
    retry = InlineKeyboardMarkup(
        inline_keyboard=[[_btn(tr("mail.btn.retry"), ComposeAction.SEND)], _cancel_row(tr)]
    )
    try:
        letter = await outgoing.send_letter(session, user, item_type, item_id, letter_draft, options.mail_key)
    except MailServerError as exc:
        await show(
            callback,
            tr("mail.send.failed", reason=server_error_text(tr, exc)) + "\n\n" + _summary(tr, draft),
            retry,
        )
        return
    except outgoing.NoMailbox:
        await show(callback, tr("mail.send.no_box"), retry)
        return
    except MailKeyMissing:
        await show(callback, tr("mail.no_key"), retry)
        return
    except ValidationFailed as exc:
        await show(callback, tr("mail.invalid", detail=validation_detail(tr, exc)), retry)
        return
    await state.clear()
    markup = InlineKeyboardMarkup(inline_keyboard=[[back_to_card(tr, item_type, item_id)]])
    text = tr("mail.sent", to=esc(", ".join(letter.to_addrs)), subject=esc(truncate(letter.subject, 300)))
    await show(callback, text, markup)


@router.callback_query(ComposeCB.filter(F.action == ComposeAction.CANCEL))
async def cancel(callback: CallbackQuery, tr: Translator, state: FSMContext) -> None:
    data = await state.get_data()
    draft = data.get(DRAFT) if str(await state.get_state() or "").startswith("ComposeForm") else None
    await state.clear()
    rows = [[back_to_card(tr, ItemType(draft["t"]), int(draft["id"]))]] if isinstance(draft, dict) else []
    await show(callback, tr("mail.cancelled"), InlineKeyboardMarkup(inline_keyboard=rows))


__all__ = ["ComposeAction", "ComposeCB", "ComposeForm", "router"]
