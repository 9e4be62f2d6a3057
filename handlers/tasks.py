"""Tasks of an item from the card's "Task" button: the list with statuses, a task's screen with its
status buttons (the ones people set; crm_core sets "new", "deadline changed" and "overdue" itself)
and its deadline, and the "New task" form (title, description, responsible, deadline).

Deadlines: quick choices or typed text ("tomorrow 15:30", "завтра 15:30", "28.11 15:30") in the
user's timezone (crm_core.services.when). Every change is written to the item's timeline by
crm_core; ids in buttons are re-checked there with the acting user.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import Any

from aiogram import F, Router
from aiogram.filters import StateFilter
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
from crm_core.services.cards_queries import assignable_users, users_by_id
from crm_core.services.counters import user_zone
from crm_core.services.when import parse_when, quick_choice, quick_choices
from handlers.callbacks import CardAction, CardCB
from handlers.card_render import back_to_card, item_label, load_visible, user_name
from handlers.render import MESSAGE_LIMIT, esc, truncate, visible_length
from handlers.texts import N_, Translator
from handlers.texts.names import TASK_STATUS_NAMES
from handlers.timeline import short_time
from handlers.ui import show

router = Router(name="tasks")

LIST_SHOWN = 15
# crm_core.services.when.QUICK_CHOICES -> button text.
QUICK_NAMES = {"1h": N_("tk.q.1h"), "t18": N_("tk.q.t18"), "tm10": N_("tk.q.tm10"), "mo10": N_("tk.q.mo10")}
USERS_PAGE = 8
TITLE_LIMIT = 500
DESCRIPTION_LIMIT = 3000
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


class NewTask(StatesGroup):
    title = State()
    description = State()
    responsible = State()
    deadline = State()


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


# Buttons of the new task form: pressed once the form has ended, they only say so.
FORM_ACTIONS = {
    TkAction.SKIP,
    TkAction.RESPONSIBLES_PAGE,
    TkAction.RESPONSIBLE,
    TkAction.FORM_DEADLINE_QUICK,
    TkAction.FORM_DEADLINE_NONE,
}


class TkCB(CallbackData, prefix="tk"):
    action: TkAction
    t: str = ""
    id: int = 0
    v: str = ""


def _cb(action: TkAction, t: ItemType | str = "", id: int = 0, v: str | int = "") -> str:
    return TkCB(action=action, t=str(t), id=id, v=str(v)).pack()


def _btn(
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


def _item_type(raw: str) -> ItemType:
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


def _with_note(note: str, text: str) -> str:
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
        kb.append([_btn(f"{n}. {truncate(task.title, 40)}", TkAction.OPEN, "", task.id)])
    kb.append([_btn(tr("tk.btn.new"), TkAction.NEW, item.ITEM_TYPE, item.id)])
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
        _btn(status_label(tr, s), TkAction.STATUS, "", task.id, s.value)
        for s in STATUS_BUTTONS
        if s != status
    ]
    kb = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    kb.append([_btn(tr("tk.btn.deadline"), TkAction.DEADLINE, "", task.id)])
    if item is not None:
        kb.append([_btn(tr("tk.btn.back"), TkAction.LIST, item.ITEM_TYPE, item.id)])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=kb)


def _deadline_buttons(
    tr: Translator,
    user: User,
    quick_action: TkAction,
    none_action: TkAction,
    id: int,
    cancel: InlineKeyboardButton,
) -> InlineKeyboardMarkup:
    now = utcnow()
    choices = quick_choices(now, user_zone(user))
    quick = [_btn(tr(QUICK_NAMES[key]), quick_action, "", id, key) for key, _ in choices]
    kb = [quick[i : i + 2] for i in range(0, len(quick), 2)]
    kb.append([_btn(tr("tk.btn.no_deadline"), none_action, "", id)])
    kb.append([cancel])
    return InlineKeyboardMarkup(inline_keyboard=kb)


def _users_markup(
    tr: Translator, user: User, users: list[User], total: int, page: int
) -> InlineKeyboardMarkup:
    kb = [
        [_btn(tr("tk.btn.me", name=truncate(user.full_name or "", 40)), TkAction.RESPONSIBLE, "", 0, user.id)]
    ]
    for u in users:
        if u.id != user.id:
            kb.append(
                [
                    _btn(
                        truncate(u.full_name or f"@{u.username or u.id}", 60),
                        TkAction.RESPONSIBLE,
                        "",
                        0,
                        u.id,
                    )
                ]
            )
    nav = []
    if page > 0:
        nav.append(_btn(tr("tk.btn.prev"), TkAction.RESPONSIBLES_PAGE, "", 0, page - 1))
    if (page + 1) * USERS_PAGE < total:
        nav.append(_btn(tr("tk.btn.next"), TkAction.RESPONSIBLES_PAGE, "", 0, page + 1))
    if nav:
        kb.append(nav)
    kb.append([_btn(tr("tk.btn.cancel"), TkAction.CANCEL)])
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
        callback, *await tasks_screen(session, user, tr, _item_type(callback_data.t), callback_data.id)
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
    cancel = _btn(tr("tk.btn.cancel"), TkAction.OPEN, "", task.id)
    await show(
        callback,
        text,
        _deadline_buttons(tr, user, TkAction.DEADLINE_QUICK, TkAction.DEADLINE_NONE, task.id, cancel),
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
    await show(event, _with_note(tr("tk.deadline_set"), text), markup)


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
        deadline = quick_choice(callback_data.v, utcnow(), user_zone(user))
        if deadline is None or deadline <= utcnow():
            callback_answer.text = tr("error.stale_button")
            return
    await _set_deadline(callback, session, user, tr, state, callback_data.id, deadline)


@router.message(TaskDeadline.value, F.text, ~F.text.startswith("/"))
async def typed_deadline(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    task_id = int((await state.get_data()).get("tk_task") or 0)
    deadline = _parse_future(message.text or "", user)
    if deadline is None:
        await message.answer(tr("tk.when_not_understood", text=esc(truncate(message.text or "", 100))))
        return
    await _set_deadline(message, session, user, tr, state, task_id, deadline)


def _parse_future(text: str, user: User) -> datetime | None:
    now = utcnow()
    value = parse_when(text, now, user_zone(user))
    return value if value is not None and value > now else None


# --- the "New task" form ---------------------------------------------------------------------------


def _cancel_markup(tr: Translator, skip: bool = False) -> InlineKeyboardMarkup:
    row = [_btn(tr("tk.btn.skip"), TkAction.SKIP)] if skip else []
    row.append(_btn(tr("tk.btn.cancel"), TkAction.CANCEL))
    return InlineKeyboardMarkup(inline_keyboard=[row])


async def _form_item(session: AsyncSession, user: User, state: FSMContext) -> AnyItem:
    data = await state.get_data()
    return await load_visible(session, user, _item_type(str(data.get("tk_t"))), int(data.get("tk_id") or 0))


@router.callback_query(TkCB.filter(F.action == TkAction.NEW))
async def new_task(
    callback: CallbackQuery,
    callback_data: TkCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
) -> None:
    item = await load_visible(session, user, _item_type(callback_data.t), callback_data.id, for_edit=True)
    await state.clear()
    await state.set_state(NewTask.title)
    await state.update_data(tk_t=str(item.ITEM_TYPE), tk_id=item.id)
    await show(callback, tr("tk.ask_title", item=item_label(tr, item)), _cancel_markup(tr))


@router.message(NewTask.title, F.text, ~F.text.startswith("/"))
async def got_title(message: Message, tr: Translator, state: FSMContext) -> None:
    title = " ".join((message.text or "").split())
    if not title:
        await message.answer(tr("tk.need_text"), reply_markup=_cancel_markup(tr))
        return
    if len(title) > TITLE_LIMIT:
        await message.answer(tr("tk.title_too_long", max=TITLE_LIMIT), reply_markup=_cancel_markup(tr))
        return
    await state.update_data(tk_title=title)
    await state.set_state(NewTask.description)
    await message.answer(
        tr("tk.ask_description", title=esc(truncate(title, 200))), reply_markup=_cancel_markup(tr, skip=True)
    )


@router.message(NewTask.description, F.text, ~F.text.startswith("/"))
async def got_description(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    await state.update_data(tk_description=truncate(message.text or "", DESCRIPTION_LIMIT))
    await _ask_responsible(message, session, user, tr, state, 0)


@router.callback_query(TkCB.filter(F.action == TkAction.SKIP), NewTask.description)
async def skip_description(
    callback: CallbackQuery, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    await state.update_data(tk_description="")
    await _ask_responsible(callback, session, user, tr, state, 0)


async def _ask_responsible(
    event: CallbackQuery | Message,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    page: int,
) -> None:
    await state.set_state(NewTask.responsible)
    users, total = await assignable_users(session, user, limit=USERS_PAGE, offset=page * USERS_PAGE)
    data = await state.get_data()
    text = tr("tk.ask_responsible", title=esc(truncate(str(data.get("tk_title") or ""), 200)))
    await show(event, text, _users_markup(tr, user, users, total, page))


@router.callback_query(TkCB.filter(F.action == TkAction.RESPONSIBLES_PAGE), NewTask.responsible)
async def users_page(
    callback: CallbackQuery,
    callback_data: TkCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
) -> None:
    page = int(callback_data.v) if callback_data.v.isdigit() else 0
    await _ask_responsible(callback, session, user, tr, state, page)


@router.callback_query(TkCB.filter(F.action == TkAction.RESPONSIBLE), NewTask.responsible)
async def got_responsible(
    callback: CallbackQuery, callback_data: TkCB, user: User, tr: Translator, state: FSMContext
) -> None:
    # crm_core checks the user exists and is active when the task is created.
    responsible_id = int(callback_data.v) if callback_data.v.isdigit() else user.id
    await state.update_data(tk_responsible=responsible_id)
    await state.set_state(NewTask.deadline)
    data = await state.get_data()
    text = tr("tk.ask_deadline", title=esc(truncate(str(data.get("tk_title") or ""), 200)))
    await show(
        callback,
        text,
        _deadline_buttons(
            tr,
            user,
            TkAction.FORM_DEADLINE_QUICK,
            TkAction.FORM_DEADLINE_NONE,
            0,
            _btn(tr("tk.btn.cancel"), TkAction.CANCEL),
        ),
    )


@router.callback_query(
    TkCB.filter(F.action.in_({TkAction.FORM_DEADLINE_QUICK, TkAction.FORM_DEADLINE_NONE})), NewTask.deadline
)
async def deadline_chosen(
    callback: CallbackQuery,
    callback_data: TkCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    deadline = None
    if callback_data.action == TkAction.FORM_DEADLINE_QUICK:
        deadline = quick_choice(callback_data.v, utcnow(), user_zone(user))
        if deadline is None or deadline <= utcnow():
            callback_answer.text = tr("error.stale_button")
            return
    await _create(callback, session, user, tr, state, deadline)


@router.message(NewTask.deadline, F.text, ~F.text.startswith("/"))
async def typed_form_deadline(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    deadline = _parse_future(message.text or "", user)
    if deadline is None:
        await message.answer(tr("tk.when_not_understood", text=esc(truncate(message.text or "", 100))))
        return
    await _create(message, session, user, tr, state, deadline)


async def _create(
    event: CallbackQuery | Message,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    deadline: datetime | None,
) -> None:
    data: dict[str, Any] = await state.get_data()
    item = await _form_item(session, user, state)
    await tasks_service.create_task(
        session,
        user,
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        title=str(data.get("tk_title") or ""),
        description=str(data.get("tk_description") or ""),
        responsible_id=int(data.get("tk_responsible") or user.id),
        deadline=deadline,
    )
    await state.clear()
    text, markup = await tasks_screen(session, user, tr, item.ITEM_TYPE, item.id)
    await show(event, _with_note(tr("tk.created"), text), markup)


@router.callback_query(TkCB.filter(F.action == TkAction.CANCEL))
async def cancel_form(
    callback: CallbackQuery,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    data = await state.get_data()
    in_form = await state.get_state() in {s.state for s in NewTask.__states__}
    await state.clear()
    callback_answer.text = tr("cancelled")
    if in_form and data.get("tk_t"):
        await show(
            callback,
            *await tasks_screen(
                session, user, tr, _item_type(str(data["tk_t"])), int(data.get("tk_id") or 0)
            ),
        )
    else:
        await show(callback, tr("cancelled"))


@router.callback_query(TkCB.filter(F.action.in_(FORM_ACTIONS)))
async def stale_form_button(callback: CallbackQuery, tr: Translator, callback_answer: CallbackAnswer) -> None:
    """A form button pressed after the form ended."""
    callback_answer.text = tr("error.stale_button")


@router.message(
    StateFilter(
        NewTask.title, NewTask.description, NewTask.responsible, NewTask.deadline, TaskDeadline.value
    ),
    ~F.text.startswith("/"),
)
async def not_text(message: Message, tr: Translator) -> None:
    await message.answer(tr("tk.need_text"))
