"""What the admin routers share: the door every admin button passes (admins only), the typed
inputs' states, and small keyboard helpers. Each admin concern has its own router and callback
data: admin (home), admin_users, admin_invites, admin_pipelines, admin_required."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aiogram import BaseMiddleware, Bot, F
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, TelegramObject
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models import User
from handlers.callbacks import MenuAction, MenuCB, Unpacked
from handlers.render import esc, truncate
from handlers.texts import Translator
from handlers.ui import show

NAME_LIMIT = 60  # of a typed name shown in a message or on a button


class AdminAction(StrEnum):
    HOME = "home"


class AdmCB(Unpacked, CallbackData, prefix="adm"):
    """The admin home screen (every concern's way back)."""

    action: AdminAction = AdminAction.HOME


class AdminForm(StatesGroup):
    department = State()  # a new department for a user
    pipeline_new = State()
    pipeline_rename = State()
    stage_rename = State()
    stage_name = State()  # then the kind of the stage, by buttons
    web_form_name = State()  # then its responsible, by buttons (admin_forms)


@dataclass(slots=True)
class Ctx:
    session: AsyncSession
    user: User
    tr: Translator
    state: FSMContext
    bot: Bot
    answer: CallbackAnswer | None = None

    def alert(self, text: str) -> None:
        if self.answer is not None:
            self.answer.text = text
            self.answer.show_alert = True

    def note(self, text: str) -> None:
        if self.answer is not None:
            self.answer.text = text


Screen = tuple[str, InlineKeyboardMarkup]


def button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def back(tr: Translator, data: CallbackData) -> list[InlineKeyboardButton]:
    return [button(tr("adm.btn.back"), data)]


def kb(rows: list[list[InlineKeyboardButton]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=rows)


def main_menu_kb(tr: Translator) -> InlineKeyboardMarkup:
    return kb([[button(tr("adm.btn.back"), MenuCB(action=MenuAction.MAIN))]])


def name(value: str | None) -> str:
    """A user-typed name for a message: shortened and escaped."""
    return esc(truncate(value or "", NAME_LIMIT))


async def leave_form(state: FSMContext) -> None:
    current = await state.get_state()
    if current is not None and current.startswith(f"{AdminForm.__name__}:"):
        await state.set_state(None)  # keep other features' data


async def ask(
    cb: CallbackQuery, ctx: Ctx, prompt: str, form: State, cancel: CallbackData, **data: object
) -> None:
    """Wait for a typed name; Cancel goes back to the `cancel` screen (the door leaves the form)."""
    await ctx.state.set_state(form)
    await ctx.state.update_data(**data)
    await show(cb, prompt, kb([[button(ctx.tr("adm.btn.cancel"), cancel)]]))


class AdminDoor(BaseMiddleware):
    """The one door of every admin button (an inner middleware of each admin router): forged data
    from anyone else changes nothing, and any admin button ends a pending typed input. The
    handler gets `ctx`."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User = data["user"]
        tr: Translator = data["tr"]
        answer: CallbackAnswer = data["callback_answer"]
        if not user.is_admin:
            answer.text, answer.show_alert = tr("adm.only"), True
            return None
        state: FSMContext = data["state"]
        await leave_form(state)
        data["ctx"] = Ctx(data["session"], user, tr, state, data["bot"], answer)
        return await handler(event, data)


async def typed_name(message: Message, user: User, tr: Translator, state: FSMContext) -> str | None:
    """The typed name, or None after answering (not an admin any more, or an empty name)."""
    if not user.is_admin:
        await state.set_state(None)  # keep other features' data
        await message.answer(tr("adm.only"))
        return None
    typed = " ".join((message.text or "").split())
    if not typed:
        await message.answer(tr("adm.name_bad"))
        return None
    return typed[:200]


TYPED = (F.text, ~F.text.startswith("/"))
