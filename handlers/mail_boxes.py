"""Mailboxes: a team box connected by an admin in /admin, one's own in /settings. The connection is
typed as one message (address, IMAP, SMTP, [login,] password), tested at once (a failure says
why), and the message with the password is deleted from the chat; the password is never shown
back. Admins also sort the letters of unknown senders (a lead, or an item by its ref)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import NotFound, ValidationFailed
from crm_core.models.mail import Letter, Mailbox
from crm_core.models.notifications import Notification
from crm_core.models.users import User
from crm_core.permissions import ensure_admin
from crm_core.refs import try_parse_ref
from crm_core.services.mail import boxes, incoming, outgoing, rules
from crm_core.services.mail.crypto import MailKeyMissing
from crm_core.services.mail.transport import MailServerError
from handlers import notify_render
from handlers.admin_common import AdmCB
from handlers.callbacks import MenuAction, MenuCB, Unpacked
from handlers.context import HandlerOptions
from handlers.errors import validation_detail
from handlers.mail_common import LetterAction, LetterCB, server_error_text
from handlers.mail_letters import letter_text
from handlers.render import esc, truncate
from handlers.texts import N_, Translator
from handlers.ui import show
from scheduler.ports import OutgoingMessage

router = Router(name="mail_boxes")

FORM_TEAM = "mail_box_team"
UNSORTED_LETTER = "mail_unsorted_letter"


class BoxForm(StatesGroup):
    form = State()
    ref = State()  # the ref of the item an unsorted letter goes to


class BoxAction(StrEnum):
    TEAM = "tm"  # the team boxes (admins)
    OWN = "own"  # my box (settings)
    CONNECT_TEAM = "ct"
    CONNECT_OWN = "co"
    BOX = "b"
    LEADS = "ld"  # toggle: unknown senders -> a lead / the unsorted list
    OFF = "off"
    UNSORTED = "u"
    TO_LEAD = "ul"  # an unsorted letter -> a new lead
    TO_ITEM = "ui"  # an unsorted letter -> an item typed by its ref
    CANCEL = "x"


class BoxCB(Unpacked, CallbackData, prefix="mbx"):
    action: BoxAction
    id: int = 0


def _btn(text: str, action: BoxAction, id: int = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=BoxCB(action=action, id=id).pack())


def _kb(rows: list[list[InlineKeyboardButton]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=rows)


def box_line(tr: Translator, box: Mailbox) -> str:
    state = N_("mail.box.on") if box.active else N_("mail.box.off")
    line = tr(state, address=esc(box.address))
    if box.active and box.last_error:
        line += "\n" + tr("mail.box.error", error=esc(truncate(box.last_error, 200)))
    return line


def box_screen(tr: Translator, box: Mailbox) -> tuple[str, InlineKeyboardMarkup]:
    lines = [
        box_line(tr, box),
        tr("mail.box.imap", host=esc(box.imap_host), port=box.imap_port, tls=esc(box.imap_tls.value)),
        tr("mail.box.smtp", host=esc(box.smtp_host), port=box.smtp_port, tls=esc(box.smtp_tls.value)),
        tr("mail.box.login", login=esc(box.login)),
        tr("mail.box.unknown_lead" if box.unknown_to_lead else "mail.box.unknown_list"),
    ]
    rows = [
        [_btn(tr("mail.btn.toggle_unknown"), BoxAction.LEADS, box.id)],
        [
            _btn(
                tr("mail.btn.reconnect"),
                BoxAction.CONNECT_TEAM if box.owner_id is None else BoxAction.CONNECT_OWN,
            )
        ],
    ]
    if box.active:
        rows.append([_btn(tr("mail.btn.disconnect"), BoxAction.OFF, box.id)])
    rows.append([_btn(tr("menu.back"), BoxAction.TEAM if box.owner_id is None else BoxAction.OWN)])
    return "\n".join(lines), _kb(rows)


# --- screens ------------------------------------------------------------------------------------


@router.callback_query(BoxCB.filter(F.action == BoxAction.TEAM))
async def team(
    callback: CallbackQuery, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    await state.clear()
    found = await boxes.team_boxes(session, user)
    lines = [tr("mail.team.title")] + [box_line(tr, b) for b in found]
    if not found:
        lines.append(tr("mail.team.none"))
    rows = [[_btn(f"📧 {truncate(b.address, 40)}", BoxAction.BOX, b.id)] for b in found]
    waiting = len(await incoming.unsorted(session, user))
    rows.append([_btn(tr("mail.btn.connect_team"), BoxAction.CONNECT_TEAM)])
    rows.append([_btn(tr("mail.btn.unsorted", count=waiting), BoxAction.UNSORTED)])
    rows.append([InlineKeyboardButton(text=tr("menu.back"), callback_data=AdmCB().pack())])
    await show(callback, "\n\n".join(lines), _kb(rows))


@router.callback_query(BoxCB.filter(F.action == BoxAction.OWN))
async def own(
    callback: CallbackQuery, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    await state.clear()
    box = await boxes.own_box(session, user)
    back = [
        InlineKeyboardButton(text=tr("menu.back"), callback_data=MenuCB(action=MenuAction.SETTINGS).pack())
    ]
    if box is None:
        await show(
            callback,
            tr("mail.own.none"),
            _kb([[_btn(tr("mail.btn.connect_own"), BoxAction.CONNECT_OWN)], back]),
        )
        return
    text, markup = box_screen(tr, box)
    waiting = len(await incoming.unsorted(session, user))
    markup.inline_keyboard[-1] = [_btn(tr("mail.btn.unsorted", count=waiting), BoxAction.UNSORTED)]
    markup.inline_keyboard.append(back)
    await show(callback, text, markup)


@router.callback_query(BoxCB.filter(F.action == BoxAction.BOX))
async def one(
    callback: CallbackQuery, callback_data: BoxCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    box = await boxes.get_box(session, user, callback_data.id)
    await show(callback, *box_screen(tr, box))


@router.callback_query(BoxCB.filter(F.action == BoxAction.LEADS))
async def toggle_unknown(
    callback: CallbackQuery, callback_data: BoxCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    box = await boxes.get_box(session, user, callback_data.id)
    box = await boxes.set_unknown_to_lead(session, user, box.id, not box.unknown_to_lead)
    await show(callback, *box_screen(tr, box))


@router.callback_query(BoxCB.filter(F.action == BoxAction.OFF))
async def disconnect(
    callback: CallbackQuery, callback_data: BoxCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    box = await boxes.disconnect(session, user, callback_data.id)
    await show(callback, *box_screen(tr, box))


# --- connecting ---------------------------------------------------------------------------------


@router.callback_query(BoxCB.filter(F.action.in_({BoxAction.CONNECT_TEAM, BoxAction.CONNECT_OWN})))
async def ask_form(
    callback: CallbackQuery,
    callback_data: BoxCB,
    user: User,
    tr: Translator,
    state: FSMContext,
    options: HandlerOptions,
) -> None:
    team_box = callback_data.action == BoxAction.CONNECT_TEAM
    if team_box:
        ensure_admin(user)
    if not options.mail_key:
        await show(callback, tr("mail.no_key"), _kb([[_btn(tr("menu.back"), BoxAction.CANCEL)]]))
        return
    await state.set_state(BoxForm.form)
    await state.update_data({FORM_TEAM: team_box})
    await show(callback, tr("mail.ask.form"), _kb([[_btn(tr("mail.btn.cancel"), BoxAction.CANCEL)]]))


@router.message(StateFilter(BoxForm.form), F.text)
async def typed_form(
    message: Message,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    options: HandlerOptions,
) -> None:
    text = message.text or ""
    # The message holds a password: it does not stay in the chat, whatever happens next.
    await message.delete()
    again = _kb([[_btn(tr("mail.btn.cancel"), BoxAction.CANCEL)]])
    try:
        form = rules.parse_box_form(text)
    except ValidationFailed as exc:
        await message.answer(tr("mail.form.invalid", detail=validation_detail(tr, exc)), reply_markup=again)
        return
    team_box = bool((await state.get_data()).get(FORM_TEAM))
    await message.answer(tr("mail.form.checking", address=esc(form.address)))
    try:
        box = await boxes.connect_box(session, user, form, options.mail_key, team=team_box)
    except MailServerError as exc:
        await message.answer(tr("mail.form.failed", reason=server_error_text(tr, exc)), reply_markup=again)
        return
    except MailKeyMissing:
        await state.clear()
        await message.answer(tr("mail.no_key"))
        return
    await state.clear()
    text, markup = box_screen(tr, box)
    await message.answer(
        tr("mail.form.connected", address=esc(box.address)) + "\n\n" + text, reply_markup=markup
    )


@router.callback_query(BoxCB.filter(F.action == BoxAction.CANCEL))
async def cancel(callback: CallbackQuery, tr: Translator, state: FSMContext) -> None:
    await state.clear()
    await show(callback, tr("mail.cancelled"), None)


# --- the unsorted letters ---------------------------------------------------------------------------


@router.callback_query(BoxCB.filter(F.action == BoxAction.UNSORTED))
async def unsorted(callback: CallbackQuery, session: AsyncSession, user: User, tr: Translator) -> None:
    letters = await incoming.unsorted(session, user)
    lines = [tr("mail.unsorted.title")]
    rows = []
    if not letters:
        lines.append(tr("mail.unsorted.none"))
    for letter in letters:
        who = esc(truncate(letter.from_addr, 60))
        lines.append(f"• {who}: {esc(truncate(letter.subject or '—', 80))}")
        rows.append(
            [
                InlineKeyboardButton(
                    text=f"✉️ {truncate(letter.subject or letter.from_addr, 30)}",
                    callback_data=LetterCB(action=LetterAction.SHOW, id=letter.id).pack(),
                ),
            ]
        )
        rows.append(
            [
                _btn(tr("mail.btn.to_lead"), BoxAction.TO_LEAD, letter.id),
                _btn(tr("mail.btn.to_item"), BoxAction.TO_ITEM, letter.id),
            ]
        )
    rows.append([_btn(tr("menu.back"), BoxAction.TEAM if user.is_admin else BoxAction.OWN)])
    await show(callback, "\n".join(lines), _kb(rows))


@router.callback_query(BoxCB.filter(F.action == BoxAction.TO_LEAD))
async def to_lead(
    callback: CallbackQuery,
    callback_data: BoxCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    item = await incoming.make_lead(session, user, callback_data.id)
    callback_answer.text = tr("mail.unsorted.assigned", ref=item.ref)
    await unsorted(callback, session, user, tr)


@router.callback_query(BoxCB.filter(F.action == BoxAction.TO_ITEM))
async def ask_ref(
    callback: CallbackQuery,
    callback_data: BoxCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
) -> None:
    await outgoing.letter_for(session, user, callback_data.id)  # an admin's, or the box owner's
    await state.set_state(BoxForm.ref)
    await state.update_data({UNSORTED_LETTER: callback_data.id})
    await show(callback, tr("mail.ask.ref"), _kb([[_btn(tr("mail.btn.cancel"), BoxAction.CANCEL)]]))


@router.message(StateFilter(BoxForm.ref), F.text)
async def typed_ref(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    ref = try_parse_ref(message.text or "")
    if ref is None:
        await message.answer(tr("mail.ref.invalid"))
        return
    letter_id = int((await state.get_data()).get(UNSORTED_LETTER) or 0)
    try:
        item = await incoming.assign(session, user, letter_id, ref[0], ref[1])
    except NotFound:
        await message.answer(tr("mail.ref.not_found"))
        return
    await state.clear()
    await message.answer(tr("mail.unsorted.assigned", ref=esc(item.ref)))


async def unsorted_notification(
    session: AsyncSession, notification: Notification, user: User, *, now: datetime
) -> list[OutgoingMessage]:
    """The push of a letter from an unknown sender that waits to be sorted (category mail_unsorted)."""
    tr = Translator(user.language)
    letter = await session.get(Letter, int((notification.payload or {}).get("letter_id") or 0))
    if letter is None or letter.owner_id is not None:
        return []
    text = letter_text(tr, letter, header=tr("mail.n.unsorted"))
    to_lead = BoxCB(action=BoxAction.TO_LEAD, id=letter.id).pack()
    to_item = BoxCB(action=BoxAction.TO_ITEM, id=letter.id).pack()
    buttons = [
        [
            {"text": tr("mail.btn.to_lead"), "callback_data": to_lead},
            {"text": tr("mail.btn.to_item"), "callback_data": to_item},
        ]
    ]
    return [OutgoingMessage(text, buttons)]


notify_render.EXTRA_RENDERERS[incoming.MAIL_UNSORTED] = unsorted_notification

__all__ = ["BoxAction", "BoxCB", "router"]
