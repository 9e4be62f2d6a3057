"""The card's people: the responsible and the observers, each picked from the colleagues the user
may assign (crm_core.services.cards_queries), paged."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models.items import AnyItem, ItemType
from crm_core.models.users import User
from crm_core.permissions import can_view
from crm_core.services import items as items_service
from crm_core.services.cards_queries import assignable_users, users_by_id
from handlers.callbacks import CardAction, CardCB, Unpacked
from handlers.card_render import back_to_card, load_visible, user_name
from handlers.card_ui import button, menu_row, page_nav, titled
from handlers.render import truncate
from handlers.texts import N_, Translator
from handlers.ui import show

router = Router(name="card_people")

USERS_PAGE = 8
REMOVE_BUTTONS = 10


class PeopleAction(StrEnum):
    PICK_RESPONSIBLE = "r"  # the picker, choosing the responsible
    SET_RESPONSIBLE = "sr"
    PICK_OBSERVERS = "o"  # the picker, toggling observers
    TOGGLE_OBSERVER = "to"  # from the picker: it stays open
    REMOVE_OBSERVER = "ro"  # from the people screen


PICKERS = {PeopleAction.PICK_RESPONSIBLE, PeopleAction.PICK_OBSERVERS}


class PeopleCB(Unpacked, CallbackData, prefix="cp"):
    t: ItemType
    id: int
    a: PeopleAction
    v: int = 0  # a user id
    p: int = 0  # the picker's page


async def people_screen(
    session: AsyncSession, tr: Translator, item: AnyItem
) -> tuple[str, InlineKeyboardMarkup]:
    observer_ids = await items_service.get_observer_ids(session, item)
    people = await users_by_id(session, [item.responsible_id, *observer_ids])
    lines = [
        tr("card.people.title", ref=item.ref, name=titled(item)),
        tr("card.responsible", name=user_name(people.get(item.responsible_id))),
        tr("card.observers", names=", ".join(user_name(people.get(u)) for u in observer_ids[:50]) or "—"),
    ]
    t, i = item.ITEM_TYPE, item.id
    rows = [
        [button(tr("card.people.change_responsible"), PeopleCB(t=t, id=i, a=PeopleAction.PICK_RESPONSIBLE))],
        [button(tr("card.people.observers"), PeopleCB(t=t, id=i, a=PeopleAction.PICK_OBSERVERS))],
    ]
    # A few direct "remove" buttons; the picker handles any number of observers.
    for uid in observer_ids[:REMOVE_BUTTONS]:
        name = truncate(people[uid].full_name if uid in people else "?", 40)
        rows.append(
            [
                button(
                    tr("card.people.remove", name=name),
                    PeopleCB(t=t, id=i, a=PeopleAction.REMOVE_OBSERVER, v=uid),
                )
            ]
        )
    rows.append([back_to_card(tr, t, i)])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


async def picker_screen(
    session: AsyncSession, user: User, tr: Translator, item: AnyItem, mode: PeopleAction, page: int
) -> tuple[str, InlineKeyboardMarkup]:
    """Colleagues, paged: mode PICK_RESPONSIBLE picks the responsible, PICK_OBSERVERS toggles
    observers."""
    observer_ids = set(await items_service.get_observer_ids(session, item))
    page = max(0, page)
    users, total = await assignable_users(session, user, limit=USERS_PAGE, offset=page * USERS_PAGE)
    if not users and page > 0:
        page = 0
        users, total = await assignable_users(session, user, limit=USERS_PAGE, offset=0)
    t, i = item.ITEM_TYPE, item.id
    responsible = mode == PeopleAction.PICK_RESPONSIBLE
    rows: list[list[InlineKeyboardButton]] = []
    for u in users:
        name = truncate(u.full_name or f"#{u.id}", 40)
        if responsible:
            mark = "✓ " if u.id == item.responsible_id else ""
            cb = PeopleCB(t=t, id=i, a=PeopleAction.SET_RESPONSIBLE, v=u.id, p=page)
        else:
            if u.id == item.responsible_id:
                continue  # the responsible sees the item anyway
            mark = "✓ " if u.id in observer_ids else ""
            cb = PeopleCB(t=t, id=i, a=PeopleAction.TOGGLE_OBSERVER, v=u.id, p=page)
        rows.append([button(f"{mark}{name}", cb)])
    has_next = (page + 1) * USERS_PAGE < total
    rows += page_nav(tr, page, has_next, lambda p: PeopleCB(t=t, id=i, a=mode, p=p))
    rows.append([button(tr("menu.back"), CardCB(type=t, id=i, action=CardAction.PEOPLE))])
    text = tr(
        "card.people.pick_responsible" if responsible else "card.people.pick_observers",
        ref=item.ref,
        name=titled(item),
    )
    pages = (total + USERS_PAGE - 1) // USERS_PAGE
    if pages > 1:
        text += "\n" + tr("card.page", page=page + 1, pages=pages)
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


@router.callback_query(CardCB.filter(F.action == CardAction.PEOPLE))
async def show_people(
    callback: CallbackQuery, callback_data: CardCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    item = await load_visible(session, user, callback_data.type, callback_data.id)
    await show(callback, *await people_screen(session, tr, item))


@router.callback_query(PeopleCB.filter(F.a.in_(PICKERS)))
async def show_picker(
    callback: CallbackQuery, callback_data: PeopleCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    item = await load_visible(session, user, callback_data.t, callback_data.id, for_edit=True)
    await show(callback, *await picker_screen(session, user, tr, item, callback_data.a, callback_data.p))


async def _after_people_change(
    callback: CallbackQuery,
    session: AsyncSession,
    user: User,
    tr: Translator,
    item: AnyItem,
    screen: Callable[[], Awaitable[tuple[str, InlineKeyboardMarkup]]],
) -> None:
    """Re-show the screen, unless the change took the item away from this user."""
    if not await can_view(session, user, item):
        text = tr("card.people.no_longer_yours", ref=item.ref, name=titled(item))
        await show(callback, text, InlineKeyboardMarkup(inline_keyboard=[menu_row(tr)]))
        return
    await show(callback, *await screen())


@router.callback_query(PeopleCB.filter(F.a == PeopleAction.SET_RESPONSIBLE))
async def set_responsible(
    callback: CallbackQuery,
    callback_data: PeopleCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    item = await load_visible(session, user, callback_data.t, callback_data.id, for_edit=True)
    await items_service.change_responsible(session, user, item, callback_data.v)
    new = (await users_by_id(session, [callback_data.v])).get(callback_data.v)
    callback_answer.text = tr("card.people.responsible_set", name=truncate(new.full_name if new else "", 60))

    async def screen() -> tuple[str, InlineKeyboardMarkup]:
        return await people_screen(session, tr, item)

    await _after_people_change(callback, session, user, tr, item, screen)


@router.callback_query(PeopleCB.filter(F.a.in_({PeopleAction.TOGGLE_OBSERVER, PeopleAction.REMOVE_OBSERVER})))
async def toggle_observer(
    callback: CallbackQuery,
    callback_data: PeopleCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    item = await load_visible(session, user, callback_data.t, callback_data.id, for_edit=True)
    uid = callback_data.v
    removing = callback_data.a == PeopleAction.REMOVE_OBSERVER
    if removing or uid in await items_service.get_observer_ids(session, item):
        await items_service.remove_observer(session, user, item, uid)
        key = N_("card.people.observer_removed")
    else:
        await items_service.add_observer(session, user, item, uid)
        key = N_("card.people.observer_added")
    who = (await users_by_id(session, [uid])).get(uid)
    callback_answer.text = tr(key, name=truncate(who.full_name if who else "", 60))

    async def screen() -> tuple[str, InlineKeyboardMarkup]:
        if removing:
            return await people_screen(session, tr, item)
        return await picker_screen(session, user, tr, item, PeopleAction.PICK_OBSERVERS, callback_data.p)

    await _after_people_change(callback, session, user, tr, item, screen)


__all__ = ["PeopleAction", "PeopleCB", "people_screen", "picker_screen", "router"]
