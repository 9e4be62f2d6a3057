"""An item's timeline: paged newest first, filtered by event type, pinned records on top, pin/unpin
and a comment's entry (full text, files, edit/delete for its author or an admin).

Public for other features:
  TlCB, CmCB (TlAction, CmAction)  callback data of the timeline (tl) and comments (cm)
  timeline_screen(session, user, tr, item_type, item_id, f="", page=0) -> (text, markup)
  comment_screen(session, user, tr, comment_id, f="", page=0) -> (text, markup)
One event's line (event_summary, short_time) is handlers.timeline_events.
Every button re-loads through crm_core with the acting user; ids in callback data are never trusted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum

from aiogram import Bot, F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import ensure_utc, utcnow
from crm_core.errors import AccessDenied, LimitExceeded, NotFound
from crm_core.models.comments import Attachment, Comment
from crm_core.models.items import ItemType
from crm_core.models.timeline import EventType, TimelineEvent
from crm_core.models.users import User
from crm_core.services import comments as comments_service
from crm_core.services import timeline as timeline_service
from crm_core.services.cards_queries import users_by_id
from handlers.callbacks import CardAction, CardCB, Unpacked
from handlers.card_render import back_to_card, item_label, load_visible, user_name
from handlers.render import MESSAGE_LIMIT, esc, truncate, visible_length
from handlers.texts import N_, Translator
from handlers.timeline_events import (
    EXCERPT_LIMITS,
    event_summary,
    event_user_ids,
    file_size_text,
    is_comment_event,
    short_time,
)
from handlers.ui import show

router = Router(name="timeline")

PAGE = 8
MAX_PAGE = 100_000
COMMENT_FULL_LIMIT = 3000

# Filter codes (short: they travel in callback data) -> event types; "" is everything.
FILTERS: dict[str, tuple[EventType, ...] | None] = {
    "": None,
    "cm": (
        EventType.COMMENT_ADDED,
        EventType.COMMENT_EDITED,
        EventType.COMMENT_DELETED,
        EventType.FILE_ATTACHED,
    ),
    "st": (EventType.STAGE_CHANGED, EventType.CONVERTED),
    "ac": (EventType.ACTIVITY_CREATED, EventType.ACTIVITY_CHANGED, EventType.ACTIVITY_COMPLETED),
    "tk": (EventType.TASK_CREATED, EventType.TASK_STATUS_CHANGED, EventType.TASK_DEADLINE_CHANGED),
    "fl": (
        EventType.FIELD_CHANGED,
        EventType.RESPONSIBLE_CHANGED,
        EventType.OBSERVER_ADDED,
        EventType.OBSERVER_REMOVED,
        EventType.LINK_ADDED,
        EventType.LINK_REMOVED,
    ),
}


FILTER_NAMES = {
    "": N_("tl.f.all"),
    "cm": N_("tl.f.cm"),
    "st": N_("tl.f.st"),
    "ac": N_("tl.f.ac"),
    "tk": N_("tl.f.tk"),
    "fl": N_("tl.f.fl"),
}


class TlAction(StrEnum):
    VIEW = "v"  # page p with filter f
    FILTER_MENU = "fm"
    PIN = "pn"  # event v, from the timeline page
    UNPIN = "up"
    PIN_ENTRY = "pe"  # event v, from a comment's entry
    UNPIN_ENTRY = "ue"
    OPEN_COMMENT = "o"  # comment v
    SEND_FILE = "fs"  # attachment v


class TlCB(Unpacked, CallbackData, prefix="tl"):
    action: TlAction
    t: str = ""  # the item's type
    id: int = 0  # the item
    f: str = ""  # the packed Filter
    p: int = 0  # the page
    v: int = 0


PIN_ACTIONS = {TlAction.PIN, TlAction.UNPIN, TlAction.PIN_ENTRY, TlAction.UNPIN_ENTRY}


class CmAction(StrEnum):
    """Handled in handlers.comments."""

    CANCEL_ADD = "x"  # adding a comment to item t/id
    EDIT = "e"  # comment v
    CANCEL_EDIT = "ex"
    DELETE_ASK = "d"
    DELETE = "dd"


class CmCB(Unpacked, CallbackData, prefix="cm"):
    action: CmAction
    t: str = ""
    id: int = 0
    v: int = 0
    f: str = ""  # f/p: the timeline page to return to
    p: int = 0


PERIODS = (0, 7, 30)  # days back; 0 is any time


@dataclass(frozen=True)
class Filter:
    """What the reader chose to see, packed into callback data as "<type>.<m>.<days>" (or "")."""

    code: str = ""
    mine: bool = False
    days: int = 0

    @classmethod
    def parse(cls, raw: str) -> Filter:
        code, _, rest = (raw or "").partition(".")
        mine, _, days = rest.partition(".")
        return cls(
            code if code in FILTERS else "",
            mine == "m",
            int(days) if days.isdigit() and int(days) in PERIODS else 0,
        )

    def pack(self) -> str:
        if not self.mine and not self.days:
            return self.code
        return f"{self.code}.{'m' if self.mine else ''}.{self.days or ''}"

    def label(self, tr: Translator) -> str:
        parts = [tr(FILTER_NAMES[self.code])]
        if self.mine:
            parts.append(tr("tl.f.mine_short"))
        if self.days:
            parts.append(tr("tl.f.days_short", count=self.days))
        return " · ".join(parts)


def _filter(raw: str) -> str:
    """The packed filter, normalised (anything forged falls back to the defaults)."""
    return Filter.parse(raw).pack()


def _item_type(raw: str) -> ItemType:
    try:
        return ItemType(raw)
    except ValueError as exc:
        raise NotFound(item_type=raw) from exc


# --- screens ---------------------------------------------------------------------------------------


def _cb(action: TlAction, t: ItemType | str, id: int, f: str = "", p: int = 0, v: int = 0) -> str:
    return TlCB(action=action, t=str(t), id=id, f=f, p=p, v=v).pack()


async def timeline_screen(
    session: AsyncSession,
    user: User,
    tr: Translator,
    item_type: ItemType | str,
    item_id: int,
    f: str = "",
    page: int = 0,
) -> tuple[str, InlineKeyboardMarkup]:
    """A page of an item's timeline the user may see (NotFound otherwise, also for no access)."""
    item = await load_visible(session, user, item_type, item_id)
    t = item.ITEM_TYPE
    chosen = Filter.parse(f)
    f = chosen.pack()
    page = min(max(page, 0), MAX_PAGE)  # forged huge pages must not overflow the offset
    types = FILTERS[chosen.code]
    author_id = user.id if chosen.mine else None
    since = utcnow() - timedelta(days=chosen.days) if chosen.days else None
    # Pinned records stand apart on the first page and are left out of the stream below them, so
    # each record is shown once whatever the page.
    pinned: list[TimelineEvent] = []
    if page == 0:
        pinned = [
            e
            for e in await comments_service.list_pinned(session, user, t, item.id)
            if (types is None or e.event_type in types)
            and (author_id is None or e.author_id == author_id)
            and (since is None or ensure_utc(e.created_at) >= since)
        ]
    stream = list(
        await timeline_service.item_timeline(
            session,
            user,
            item,
            pinned_first=False,
            pinned=False,
            event_types=types,
            author_id=author_id,
            since=since,
            limit=PAGE + 1,
            offset=page * PAGE,
        )
    )
    has_next = len(stream) > PAGE
    stream = stream[:PAGE]
    names = await users_by_id(session, event_user_ids(pinned + stream))

    head = [
        tr("tl.title", item=item_label(tr, item)),
        tr("tl.filter_line", filter=chosen.label(tr), page=page + 1),
    ]
    numbered = list(enumerate(pinned + stream, 1))

    def render(excerpt: int) -> str:
        blocks = list(head)
        if pinned:
            blocks.append("")
            blocks.append(tr("tl.pinned"))
        for n, event in numbered:
            if n == len(pinned) + 1:
                blocks.append("")
            mark = "📌 " if event.pinned else ""
            line = f"<b>{n}.</b> {mark}{event_summary(tr, event, names, user, excerpt)}"
            author = user_name(names.get(event.author_id)) if event.author_id else tr("tl.system")
            meta = f"    <i>{author} · {short_time(event.created_at, user)}</i>"
            blocks.append(f"{line}\n{meta}")
        if not numbered:
            blocks.append("")
            blocks.append(tr("tl.empty") if not f and page == 0 else tr("tl.empty_filtered"))
        return "\n".join(blocks)

    text = render(EXCERPT_LIMITS[0])
    for limit in EXCERPT_LIMITS[1:]:
        if visible_length(text) <= MESSAGE_LIMIT:
            break
        text = render(limit)

    kb: list[list[InlineKeyboardButton]] = []
    entry_buttons: list[InlineKeyboardButton] = []
    for n, event in numbered:
        if event.pinned:
            entry_buttons.append(
                InlineKeyboardButton(
                    text=tr("tl.btn.unpin", n=n),
                    callback_data=_cb(TlAction.UNPIN, t, item.id, f, page, event.id),
                )
            )
        elif is_comment_event(event):
            entry_buttons.append(
                InlineKeyboardButton(
                    text=tr("tl.btn.pin", n=n), callback_data=_cb(TlAction.PIN, t, item.id, f, page, event.id)
                )
            )
        comment_id = (event.payload or {}).get("comment_id")
        if is_comment_event(event) and isinstance(comment_id, int):
            entry_buttons.append(
                InlineKeyboardButton(
                    text=tr("tl.btn.open", n=n),
                    callback_data=_cb(TlAction.OPEN_COMMENT, t, item.id, f, page, comment_id),
                )
            )
    for i in range(0, len(entry_buttons), 4):
        kb.append(entry_buttons[i : i + 4])
    nav = []
    if page > 0:
        nav.append(
            InlineKeyboardButton(
                text=tr("tl.btn.prev"), callback_data=_cb(TlAction.VIEW, t, item.id, f, page - 1)
            )
        )
    if has_next:
        nav.append(
            InlineKeyboardButton(
                text=tr("tl.btn.next"), callback_data=_cb(TlAction.VIEW, t, item.id, f, page + 1)
            )
        )
    if nav:
        kb.append(nav)
    kb.append(
        [
            InlineKeyboardButton(
                text=tr("tl.btn.filter", filter=chosen.label(tr)),
                callback_data=_cb(TlAction.FILTER_MENU, t, item.id, f),
            ),
            InlineKeyboardButton(
                text=tr("tl.btn.comment"),
                callback_data=CardCB(type=t, id=item.id, action=CardAction.COMMENT).pack(),
            ),
        ]
    )
    kb.append([back_to_card(tr, t, item.id)])
    return text, InlineKeyboardMarkup(inline_keyboard=kb)


async def _filter_screen(
    session: AsyncSession, user: User, tr: Translator, item_type: ItemType, item_id: int, current: str
) -> tuple[str, InlineKeyboardMarkup]:
    item = await load_visible(session, user, item_type, item_id)
    chosen = Filter.parse(current)

    def button(label: str, selected: bool, to: Filter) -> InlineKeyboardButton:
        text = f"• {label}" if selected else label
        return InlineKeyboardButton(
            text=text, callback_data=_cb(TlAction.VIEW, item.ITEM_TYPE, item.id, to.pack())
        )

    rows = [
        [button(tr(FILTER_NAMES[code]), code == chosen.code, replace(chosen, code=code))] for code in FILTERS
    ]
    rows.append(
        [
            button(tr("tl.f.everyone"), not chosen.mine, replace(chosen, mine=False)),
            button(tr("tl.f.mine"), chosen.mine, replace(chosen, mine=True)),
        ]
    )
    rows.append(
        [
            button(
                tr("tl.f.days", count=days) if days else tr("tl.f.any_time"),
                days == chosen.days,
                replace(chosen, days=days),
            )
            for days in PERIODS
        ]
    )
    rows.append(
        [
            InlineKeyboardButton(
                text=tr("menu.back"), callback_data=_cb(TlAction.VIEW, item.ITEM_TYPE, item.id, chosen.pack())
            )
        ]
    )
    return tr("tl.filter_title", item=item_label(tr, item)), InlineKeyboardMarkup(inline_keyboard=rows)


async def load_comment(session: AsyncSession, user: User, comment_id: int) -> Comment:
    """A live comment on an item the user may see (NotFound otherwise, also for no access)."""
    comment = await session.get(Comment, comment_id)
    if comment is None or comment.deleted_at is not None:
        raise NotFound("comment", comment_id=comment_id)
    await load_visible(session, user, comment.owner_type, comment.owner_id)
    return comment


async def _comment_files(session: AsyncSession, user: User, comment: Comment) -> list[Attachment]:
    files = await comments_service.list_attachments(
        session, user, comment.owner_type, comment.owner_id, limit=200
    )
    return sorted((a for a in files if a.comment_id == comment.id), key=lambda a: a.id)


def may_change_comment(user: User, comment: Comment) -> bool:
    """Whether to offer Delete: the author or an admin (crm_core decides again when pressed).
    Edit is offered to the author only."""
    return comment.author_id == user.id or user.is_admin


async def comment_screen(
    session: AsyncSession, user: User, tr: Translator, comment_id: int, f: str = "", page: int = 0
) -> tuple[str, InlineKeyboardMarkup]:
    """One comment in full, with its files and what the user may do with it."""
    comment = await load_comment(session, user, comment_id)
    item = await load_visible(session, user, comment.owner_type, comment.owner_id)
    t = item.ITEM_TYPE
    f = _filter(f)
    names = await users_by_id(session, [comment.author_id] if comment.author_id else [])
    event = await session.get(TimelineEvent, comment.timeline_event_id) if comment.timeline_event_id else None
    files = await _comment_files(session, user, comment)
    edited = f" {tr('tl.edited')}" if comment.edited_at else ""
    lines = [
        tr("cm.entry_title", item=item_label(tr, item)),
        f"<i>{user_name(names.get(comment.author_id))} · {short_time(comment.created_at, user)}</i>{edited}",
    ]
    if event is not None and event.pinned:
        lines.append(tr("cm.pinned_mark"))
    if comment.text:
        lines.append("")
        lines.append(esc(truncate(comment.text, COMMENT_FULL_LIMIT)))
    if files:
        lines.append("")
        for n, a in enumerate(files[:10], 1):
            lines.append(f"📎 {n}. {esc(truncate(a.name or 'file', 80))}{file_size_text(a.size)}")
    kb: list[list[InlineKeyboardButton]] = []
    if files:
        kb.append(
            [
                InlineKeyboardButton(
                    text=tr("cm.btn.file", n=n),
                    callback_data=_cb(TlAction.SEND_FILE, t, item.id, f, page, a.id),
                )
                for n, a in enumerate(files[:10], 1)
            ][:5]
        )
    row = []
    if event is not None:
        if event.pinned:
            row.append(
                InlineKeyboardButton(
                    text=tr("cm.btn.unpin"),
                    callback_data=_cb(TlAction.UNPIN_ENTRY, t, item.id, f, page, event.id),
                )
            )
        else:
            row.append(
                InlineKeyboardButton(
                    text=tr("cm.btn.pin"),
                    callback_data=_cb(TlAction.PIN_ENTRY, t, item.id, f, page, event.id),
                )
            )
    if comment.author_id == user.id:
        row.append(
            InlineKeyboardButton(
                text=tr("cm.btn.edit"),
                callback_data=CmCB(
                    action=CmAction.EDIT, t=str(t), id=item.id, v=comment.id, f=f, p=page
                ).pack(),
            )
        )
    if may_change_comment(user, comment):
        row.append(
            InlineKeyboardButton(
                text=tr("cm.btn.delete"),
                callback_data=CmCB(
                    action=CmAction.DELETE_ASK, t=str(t), id=item.id, v=comment.id, f=f, p=page
                ).pack(),
            )
        )
    if row:
        kb.append(row)
    kb.append(
        [InlineKeyboardButton(text=tr("cm.btn.back"), callback_data=_cb(TlAction.VIEW, t, item.id, f, page))]
    )
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=kb)


# --- handlers ------------------------------------------------------------------------------------


@router.callback_query(CardCB.filter(F.action == CardAction.TIMELINE))
async def from_card(
    callback: CallbackQuery, callback_data: CardCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    await show(callback, *await timeline_screen(session, user, tr, callback_data.type, callback_data.id))


@router.callback_query(TlCB.filter(F.action == TlAction.VIEW))
async def view_page(
    callback: CallbackQuery, callback_data: TlCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    t = _item_type(callback_data.t)
    await show(
        callback,
        *await timeline_screen(session, user, tr, t, callback_data.id, callback_data.f, callback_data.p),
    )


@router.callback_query(TlCB.filter(F.action == TlAction.FILTER_MENU))
async def filter_menu(
    callback: CallbackQuery, callback_data: TlCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    t = _item_type(callback_data.t)
    await show(
        callback, *await _filter_screen(session, user, tr, t, callback_data.id, _filter(callback_data.f))
    )


@router.callback_query(TlCB.filter(F.action.in_(PIN_ACTIONS)))
async def pin_toggle(
    callback: CallbackQuery,
    callback_data: TlCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        if callback_data.action in (TlAction.PIN, TlAction.PIN_ENTRY):
            event = await comments_service.pin_event(session, user, callback_data.v)
        else:
            event = await comments_service.unpin_event(session, user, callback_data.v)
    except LimitExceeded as exc:
        # Nothing was changed; say why in plain words rather than as an error.
        callback_answer.text = tr("tl.pin_limit", limit=exc.params.get("limit", comments_service.MAX_PINNED))
        callback_answer.show_alert = True
        return
    except AccessDenied as exc:
        # Someone else's item looks exactly like a missing one.
        raise NotFound(event_id=callback_data.v) from exc
    pinning = callback_data.action in (TlAction.PIN, TlAction.PIN_ENTRY)
    callback_answer.text = tr("tl.pinned_ok" if pinning else "tl.unpinned_ok")
    # Back where the button was: the comment's entry (pe/ue) or the timeline page (pn/up).
    comment_id = (event.payload or {}).get("comment_id")
    if (
        callback_data.action in (TlAction.PIN_ENTRY, TlAction.UNPIN_ENTRY)
        and isinstance(comment_id, int)
        and is_comment_event(event)
    ):
        await show(
            callback, *await comment_screen(session, user, tr, comment_id, callback_data.f, callback_data.p)
        )
        return
    await show(
        callback,
        *await timeline_screen(
            session, user, tr, event.owner_type, event.owner_id, callback_data.f, callback_data.p
        ),
    )


@router.callback_query(TlCB.filter(F.action == TlAction.OPEN_COMMENT))
async def open_comment(
    callback: CallbackQuery, callback_data: TlCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    await show(
        callback, *await comment_screen(session, user, tr, callback_data.v, callback_data.f, callback_data.p)
    )


@router.callback_query(TlCB.filter(F.action == TlAction.SEND_FILE))
async def send_file(
    callback: CallbackQuery,
    callback_data: TlCB,
    session: AsyncSession,
    user: User,
    bot: Bot,
    callback_answer: CallbackAnswer,
) -> None:
    """Send an attached file back by its Telegram reference (the bytes never left Telegram)."""
    item = await load_visible(session, user, _item_type(callback_data.t), callback_data.id)
    files = await comments_service.list_attachments(session, user, item.ITEM_TYPE, item.id, limit=200)
    attachment = next((a for a in files if a.id == callback_data.v), None)
    if attachment is None:
        raise NotFound("attachment", attachment_id=callback_data.v)
    chat_id = callback.message.chat.id if callback.message is not None else callback.from_user.id
    if is_photo(attachment.name, attachment.mime):
        await bot.send_photo(chat_id, attachment.file_id)
    else:
        await bot.send_document(chat_id, attachment.file_id)


PHOTO_PREFIX = "photo_"


def is_photo(name: str | None, mime: str | None) -> bool:
    """Photos are stored under a name of ours (they have none in Telegram) and go back as photos:
    a photo's file_id cannot be sent as a document."""
    return bool(name and name.startswith(PHOTO_PREFIX) and (mime or "").startswith("image/"))
