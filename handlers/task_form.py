"""The "New task" form of an item: title, description (optional), responsible, deadline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models.items import AnyItem
from crm_core.models.users import User
from crm_core.services import tasks as tasks_service
from crm_core.services.cards_queries import assignable_users
from handlers.card_render import item_label, load_visible
from handlers.render import esc, truncate
from handlers.tasks import (
    TaskDeadline,
    TkAction,
    TkCB,
    deadline_buttons,
    item_type_of,
    parse_future,
    quick_deadline,
    task_button,
    tasks_screen,
    with_note,
)
from handlers.texts import Translator
from handlers.ui import show

router = Router(name="task_form")
USERS_PAGE = 8
TITLE_LIMIT = 500
DESCRIPTION_LIMIT = 3000
# Buttons of the new task form: pressed once the form has ended, they only say so.
FORM_ACTIONS = {
    TkAction.SKIP,
    TkAction.RESPONSIBLES_PAGE,
    TkAction.RESPONSIBLE,
    TkAction.FORM_DEADLINE_QUICK,
    TkAction.FORM_DEADLINE_NONE,
}


class NewTask(StatesGroup):
    title = State()
    description = State()
    responsible = State()
    deadline = State()


def _users_markup(
    tr: Translator, user: User, users: list[User], total: int, page: int
) -> InlineKeyboardMarkup:
    kb = [
        [
            task_button(
                tr("tk.btn.me", name=truncate(user.full_name or "", 40)), TkAction.RESPONSIBLE, "", 0, user.id
            )
        ]
    ]
    for u in users:
        if u.id != user.id:
            kb.append(
                [
                    task_button(
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
        nav.append(task_button(tr("tk.btn.prev"), TkAction.RESPONSIBLES_PAGE, "", 0, page - 1))
    if (page + 1) * USERS_PAGE < total:
        nav.append(task_button(tr("tk.btn.next"), TkAction.RESPONSIBLES_PAGE, "", 0, page + 1))
    if nav:
        kb.append(nav)
    kb.append([task_button(tr("tk.btn.cancel"), TkAction.CANCEL)])
    return InlineKeyboardMarkup(inline_keyboard=kb)


# --- the "New task" form ---------------------------------------------------------------------------


def _cancel_markup(tr: Translator, skip: bool = False) -> InlineKeyboardMarkup:
    row = [task_button(tr("tk.btn.skip"), TkAction.SKIP)] if skip else []
    row.append(task_button(tr("tk.btn.cancel"), TkAction.CANCEL))
    return InlineKeyboardMarkup(inline_keyboard=[row])


async def _form_item(session: AsyncSession, user: User, state: FSMContext) -> AnyItem:
    data = await state.get_data()
    return await load_visible(session, user, item_type_of(str(data.get("tk_t"))), int(data.get("tk_id") or 0))


@router.callback_query(TkCB.filter(F.action == TkAction.NEW))
async def new_task(
    callback: CallbackQuery,
    callback_data: TkCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
) -> None:
    item = await load_visible(session, user, item_type_of(callback_data.t), callback_data.id, for_edit=True)
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
        deadline_buttons(
            tr,
            user,
            TkAction.FORM_DEADLINE_QUICK,
            TkAction.FORM_DEADLINE_NONE,
            0,
            task_button(tr("tk.btn.cancel"), TkAction.CANCEL),
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
        deadline = quick_deadline(str(callback_data.v), user)
        if deadline is None:
            callback_answer.text = tr("error.stale_button")
            return
    await _create(callback, session, user, tr, state, deadline)


@router.message(NewTask.deadline, F.text, ~F.text.startswith("/"))
async def typed_form_deadline(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    deadline = parse_future(message.text or "", user)
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
    await show(event, with_note(tr("tk.created"), text), markup)


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
                session, user, tr, item_type_of(str(data["tk_t"])), int(data.get("tk_id") or 0)
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
