"""Tasks of an item from the card's "Task" button: the list with statuses, a task's screen with its
status buttons (the ones people set; crm_core sets "new", "deadline changed" and "overdue" itself)
and its deadline. The "New task" form is handlers.task_form.

Deadlines: quick choices or typed text ("tomorrow 15:30", "завтра 15:30", "28.11 15:30") in the
user's timezone (crm_core.services.when). Every change is written to the item's timeline by
crm_core; ids in buttons are re-checked there with the acting user.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import utcnow
from crm_core.errors import AccessDenied, NotFound
from crm_core.models.activities import Task, TaskStatus
from crm_core.models.items import AnyItem, ItemType
from crm_core.models.users import User
from crm_core.services import tasks as tasks_service
from crm_core.services.cards_queries import users_by_id
from crm_core.services.counters import user_zone
from crm_core.services.when import parse_when, quick_choice, quick_choices
from handlers.callbacks import CardAction, CardCB, Unpacked
from handlers.card_render import back_to_card, item_label, load_visible, user_name
from handlers.render import MESSAGE_LIMIT, esc, truncate, visible_length
from handlers.texts import N_, Translator
from handlers.texts.names import TASK_STATUS_NAMES
from handlers.timeline_events import short_time
from handlers.ui import show

router = Router(name="tasks")

LIST_SHOWN = 15
# crm_core.services.when.QUICK_CHOICES -> button text.
QUICK_NAMES = {"1h": N_("tk.q.1h"), "t18": N_("tk.q.t18"), "tm10": N_("tk.q.tm10"), "mo10": N_("tk.q.mo10")}
SHOWN_DESCRIPTION = 1500
# The statuses people set, in the order they usually come.
STATUS_BUTTONS = (
    TaskStatus.VIEWED,
    TaskStatus.IN_PROGRESS,
    TaskStatus.WAITING,
    TaskStatus.AWAITING_CONTROL,
    TaskStatus.HAS_RESULT,
    TaskStatus.COMPLETED,
)
ICONS = {
    TaskStatus.NEW: "🆕",
    TaskStatus.VIEWED: "👀",
    TaskStatus.IN_PROGRESS: "▶️",
    TaskStatus.WAITING: "⏸",
    TaskStatus.AWAITING_CONTROL: "🔎",
    TaskStatus.DEADLINE_CHANGED: "🗓",
    TaskStatus.HAS_RESULT: "📋",
    TaskStatus.OVERDUE: "🔴",
    TaskStatus.COMPLETED: "✅",
}


class TaskDeadline(StatesGroup):
    value = State()  # typed text for an existing task's deadline


class TkAction(StrEnum):
    LIST = "ls"  # of item t/id
    OPEN = "o"  # task id
    STATUS = "s"  # set status v
    DEADLINE = "dl"  # the deadline screen
    DEADLINE_QUICK = "dq"  # v: the quick choice
    DEADLINE_NONE = "dn"
    # The new task form:
    NEW = "n"  # for item t/id
    SKIP = "sk"  # the description
    RESPONSIBLE = "r"  # v: the user id
    RESPONSIBLES_PAGE = "rp"  # v: the page
    FORM_DEADLINE_QUICK = "fq"  # v: the quick choice
    FORM_DEADLINE_NONE = "fn"
    CANCEL = "cx"


class TkCB(Unpacked, CallbackData, prefix="tk"):
    action: TkAction
    t: str = ""
    id: int = 0
    v: str = ""


def _cb(action: TkAction, t: ItemType | str = "", id: int = 0, v: str | int = "") -> str:
    return TkCB(action=action, t=str(t), id=id, v=str(v)).pack()


def task_button(
    text: str, action: TkAction, t: ItemType | str = "", id: int = 0, v: str | int = ""
) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=_cb(action, t, id, v))


@contextmanager
def _hidden_as_missing(task_id: int) -> Iterator[None]:
    """A task on an item the user may not see answers exactly like a missing one."""
    try:
        yield
    except AccessDenied as exc:
        raise NotFound("task", task_id=task_id) from exc


def item_type_of(raw: str) -> ItemType:
    try:
        return ItemType(raw)
    except ValueError as exc:
        raise NotFound(item_type=raw) from exc


def status_label(tr: Translator, status: TaskStatus | str) -> str:
    status = TaskStatus(status)
    return f"{ICONS[status]} {tr(TASK_STATUS_NAMES[status])}"


def _deadline_text(tr: Translator, task: Task, user: User, now: datetime) -> str:
    if task.deadline is None:
        return tr("tk.no_deadline")
    late = f" {tr('tk.late')}" if task.status != TaskStatus.COMPLETED and task.deadline <= now else ""
    return short_time(task.deadline, user, now) + late


def with_note(note: str, text: str) -> str:
    combined = f"{note}\n\n{text}"
    return combined if visible_length(combined) <= MESSAGE_LIMIT else text


# --- screens ---------------------------------------------------------------------------------------


async def tasks_screen(
    session: AsyncSession, user: User, tr: Translator, item_type: ItemType | str, item_id: int
) -> tuple[str, InlineKeyboardMarkup]:
    """The item's tasks (open by deadline, then completed) with their statuses."""
    item = await load_visible(session, user, item_type, item_id)
    tasks = await tasks_service.list_item_tasks(session, user, item.ITEM_TYPE, item.id)
    shown = tasks[:LIST_SHOWN]
    names = await users_by_id(session, [t.responsible_id for t in shown])
    now = utcnow()
    lines = [tr("tk.list_title", item=item_label(tr, item)), ""]
    if not shown:
        lines.append(tr("tk.list_empty"))
    for n, task in enumerate(shown, 1):
        status = TaskStatus(task.status)
        meta = " · ".join(
            (
                tr(TASK_STATUS_NAMES[status]),
                _deadline_text(tr, task, user, now),
                user_name(names.get(task.responsible_id)),
            )
        )
        lines.append(f"<b>{n}.</b> {ICONS[status]} {esc(truncate(task.title, 100))}\n    <i>{meta}</i>")
    if len(tasks) > LIST_SHOWN:
        lines.append(tr("tk.list_more", count=len(tasks) - LIST_SHOWN))
    kb: list[list[InlineKeyboardButton]] = []
    for n, task in enumerate(shown, 1):
        kb.append([task_button(f"{n}. {truncate(task.title, 40)}", TkAction.OPEN, "", task.id)])
    kb.append([task_button(tr("tk.btn.new"), TkAction.NEW, item.ITEM_TYPE, item.id)])
    kb.append([back_to_card(tr, item.ITEM_TYPE, item.id)])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=kb)


async def _task_item(session: AsyncSession, user: User, task: Task) -> AnyItem | None:
    """The task's item if the user may see it (a task's responsible may not see its item)."""
    try:
        return await load_visible(session, user, task.owner_type, task.owner_id)
    except (NotFound, AccessDenied):
        return None


async def task_screen(
    session: AsyncSession, user: User, tr: Translator, task: Task
) -> tuple[str, InlineKeyboardMarkup]:
    item = await _task_item(session, user, task)
    names = await users_by_id(session, [task.responsible_id, task.created_by_id or 0])
    now = utcnow()
    status = TaskStatus(task.status)
    lines = [tr("tk.task_title", title=esc(truncate(task.title, 300)))]
    if item is not None:
        lines.append(item_label(tr, item))
    lines += [
        "",
        tr("tk.status_line", status=status_label(tr, status)),
        tr("tk.responsible_line", name=user_name(names.get(task.responsible_id))),
        tr("tk.creator_line", name=user_name(names.get(task.created_by_id or 0))),
        tr("tk.deadline_line", when=_deadline_text(tr, task, user, now)),
    ]
    if task.description:
        lines += ["", esc(truncate(task.description, SHOWN_DESCRIPTION))]
    lines += ["", tr("tk.change_status")]
    buttons = [
        task_button(status_label(tr, s), TkAction.STATUS, "", task.id, s.value)
        for s in STATUS_BUTTONS
        if s != status
    ]
    kb = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    kb.append([task_button(tr("tk.btn.deadline"), TkAction.DEADLINE, "", task.id)])
    if item is not None:
        kb.append([task_button(tr("tk.btn.back"), TkAction.LIST, item.ITEM_TYPE, item.id)])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=kb)


def deadline_buttons(
    tr: Translator,
    user: User,
    quick_action: TkAction,
    none_action: TkAction,
    id: int,
    cancel: InlineKeyboardButton,
) -> InlineKeyboardMarkup:
    now = utcnow()
    choices = quick_choices(now, user_zone(user))
    quick = [task_button(tr(QUICK_NAMES[key]), quick_action, "", id, key) for key, _ in choices]
    kb = [quick[i : i + 2] for i in range(0, len(quick), 2)]
    kb.append([task_button(tr("tk.btn.no_deadline"), none_action, "", id)])
    kb.append([cancel])
    return InlineKeyboardMarkup(inline_keyboard=kb)


# --- the list and one task -------------------------------------------------------------------------


@router.callback_query(CardCB.filter(F.action == CardAction.TASK))
async def from_card(
    callback: CallbackQuery, callback_data: CardCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    await show(callback, *await tasks_screen(session, user, tr, callback_data.type, callback_data.id))


@router.callback_query(TkCB.filter(F.action == TkAction.LIST))
async def list_tasks(
    callback: CallbackQuery, callback_data: TkCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    await show(
        callback, *await tasks_screen(session, user, tr, item_type_of(callback_data.t), callback_data.id)
    )


@router.callback_query(TkCB.filter(F.action == TkAction.OPEN))
async def open_task(
    callback: CallbackQuery,
    callback_data: TkCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
) -> None:
    if await state.get_state() == TaskDeadline.value.state:  # "Cancel" on the deadline screen
        await state.clear()
    # The responsible opening a new task marks it viewed (crm_core).
    with _hidden_as_missing(callback_data.id):
        task = await tasks_service.view_task(session, user, callback_data.id)
    await show(callback, *await task_screen(session, user, tr, task))


@router.callback_query(TkCB.filter(F.action == TkAction.STATUS))
async def set_status(
    callback: CallbackQuery,
    callback_data: TkCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    with _hidden_as_missing(callback_data.id):
        task = await tasks_service.change_task_status(session, user, callback_data.id, callback_data.v)
    callback_answer.text = tr("tk.status_set", status=tr(TASK_STATUS_NAMES[TaskStatus(task.status)]))
    await show(callback, *await task_screen(session, user, tr, task))


@router.callback_query(TkCB.filter(F.action == TkAction.DEADLINE))
async def ask_deadline(
    callback: CallbackQuery,
    callback_data: TkCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
) -> None:
    with _hidden_as_missing(callback_data.id):
        task = await tasks_service.get_task(session, user, callback_data.id)
    await state.clear()
    await state.set_state(TaskDeadline.value)
    await state.update_data(tk_task=task.id)
    now = utcnow()
    text = tr(
        "tk.deadline_prompt", title=esc(truncate(task.title, 200)), when=_deadline_text(tr, task, user, now)
    )
    cancel = task_button(tr("tk.btn.cancel"), TkAction.OPEN, "", task.id)
    await show(
        callback,
        text,
        deadline_buttons(tr, user, TkAction.DEADLINE_QUICK, TkAction.DEADLINE_NONE, task.id, cancel),
    )


async def _set_deadline(
    event: CallbackQuery | Message,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    task_id: int,
    deadline: datetime | None,
) -> None:
    with _hidden_as_missing(task_id):
        task = await tasks_service.change_task_deadline(session, user, task_id, deadline)
    if await state.get_state() == TaskDeadline.value.state:
        await state.clear()
    text, markup = await task_screen(session, user, tr, task)
    await show(event, with_note(tr("tk.deadline_set"), text), markup)


@router.callback_query(TkCB.filter(F.action.in_({TkAction.DEADLINE_QUICK, TkAction.DEADLINE_NONE})))
async def deadline_button(
    callback: CallbackQuery,
    callback_data: TkCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    deadline = None
    if callback_data.action == TkAction.DEADLINE_QUICK:
        deadline = quick_deadline(str(callback_data.v), user)
        if deadline is None:
            callback_answer.text = tr("error.stale_button")
            return
    await _set_deadline(callback, session, user, tr, state, callback_data.id, deadline)


@router.message(TaskDeadline.value, F.text, ~F.text.startswith("/"))
async def typed_deadline(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    task_id = int((await state.get_data()).get("tk_task") or 0)
    deadline = parse_future(message.text or "", user)
    if deadline is None:
        await message.answer(tr("tk.when_not_understood", text=esc(truncate(message.text or "", 100))))
        return
    await _set_deadline(message, session, user, tr, state, task_id, deadline)


def quick_deadline(key: str, user: User) -> datetime | None:
    """A quick deadline button's moment, or None when it names none or has passed (a stale button)."""
    deadline = quick_choice(key, utcnow(), user_zone(user))
    return deadline if deadline is not None and deadline > utcnow() else None


def parse_future(text: str, user: User) -> datetime | None:
    now = utcnow()
    value = parse_when(text, now, user_zone(user))
    return value if value is not None and value > now else None
