"""Bulk actions on a list's selection: move to a stage, give to a responsible, convert leads (one
scheme, a report per lead), delete to the trash. crm_core.services.bulk does each item in a savepoint
of its own and says what became of it."""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import ValidationFailed
from crm_core.models.items import ItemType
from crm_core.models.users import User
from crm_core.services import bulk as bulk_service
from crm_core.services import conversion as conversion_service
from crm_core.services import pipelines as pipelines_service
from crm_core.services.cards_queries import assignable_users, users_by_id
from handlers.errors import describe as describe_error
from handlers.list_view import ListView, load_view, save_view
from handlers.lists import (
    SEMANTIC_MARK,
    BkAction,
    BkCB,
    LsAction,
    LsCB,
    bk_button,
    list_screen,
    ls_button,
    show_list,
)
from handlers.render import esc, truncate
from handlers.texts import N_, Translator
from handlers.texts.names import SCHEME_NAMES, pipeline_name, stage_name
from handlers.ui import show

router = Router(name="list_bulk")
USERS_PAGE = 8
REPORT_LINES = 15


async def require_selection(
    callback: CallbackQuery, state: FSMContext, session: AsyncSession, user: User, tr: Translator,
    t: ItemType, callback_answer: CallbackAnswer,
) -> ListView | None:  # fmt: skip
    view = await load_view(state, session, user, t)
    if not view.selected:
        callback_answer.text = tr("bk.nothing_selected")
        callback_answer.show_alert = True
        return None
    return view


def _outcome(tr: Translator, results: list[bulk_service.ItemResult]) -> tuple[list[str], list[str]]:
    """(refs done, "ref — reason" lines) of a bulk action's per-item results."""
    done = [r.ref for r in results if r.ok]
    failed = [f"{r.ref} — {describe_error(tr, r.error)}" for r in results if r.error is not None]
    return done, failed


def _report(tr: Translator, done: list[str], failed: list[str], key: str, **params: Any) -> str:
    lines = [tr(key, count=len(done), **params)]
    if done:
        lines.append(
            esc(", ".join(done[: REPORT_LINES * 3])) + (" …" if len(done) > REPORT_LINES * 3 else "")
        )
    if failed:
        lines.append(tr("bk.failed", count=len(failed)))
        lines.extend(failed[:REPORT_LINES])
        if len(failed) > REPORT_LINES:
            lines.append(tr("bk.and_more", count=len(failed) - REPORT_LINES))
    return "\n".join(lines)


async def _finish(
    callback: CallbackQuery, session: AsyncSession, user: User, tr: Translator, state: FSMContext,
    t: ItemType, view: ListView, report: str,
) -> None:  # fmt: skip
    view.selected, view.selecting = [], False
    view.reset_paging()
    await save_view(state, t, view)
    await show_list(callback, session, user, tr, state, t, 0, notice=report)


@router.callback_query(BkCB.filter(F.action == BkAction.STAGES))
async def bulk_stage_screen(
    callback: CallbackQuery, callback_data: BkCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext, callback_answer: CallbackAnswer,
) -> None:  # fmt: skip
    t = callback_data.t
    if not t.has_stages:
        raise ValidationFailed("no stages", item_type=t.value)
    view = await require_selection(callback, state, session, user, tr, t, callback_answer)
    if view is None:
        return
    pipelines = list(await pipelines_service.list_pipelines(session, t))
    rows = []
    for pipeline in pipelines:
        for stage in await pipelines_service.list_stages(session, pipeline.id):
            label = SEMANTIC_MARK[stage.semantics] + stage_name(tr, stage)
            if len(pipelines) > 1:
                label = f"{pipeline_name(tr, pipeline)}: {label}"
            rows.append([bk_button(truncate(label, 60), action=BkAction.TO_STAGE, t=t, v=str(stage.id))])
    rows.append([ls_button(tr("views.back"), action=LsAction.PAGE, t=t, n=callback_data.n)])
    await show(
        callback, tr("bk.stage_title", count=len(view.selected)), InlineKeyboardMarkup(inline_keyboard=rows)
    )


@router.callback_query(BkCB.filter(F.action == BkAction.TO_STAGE))
async def bulk_move(
    callback: CallbackQuery, callback_data: BkCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext, callback_answer: CallbackAnswer,
) -> None:  # fmt: skip
    t = callback_data.t
    view = await require_selection(callback, state, session, user, tr, t, callback_answer)
    if view is None:
        return
    if not callback_data.v.isdigit():
        raise ValidationFailed("invalid stage", field="stage_id")
    stage = await pipelines_service.get_stage(session, int(callback_data.v))

    results = await bulk_service.move_stage(session, user, t, view.selected, stage.id)
    done, failed = _outcome(tr, results)
    report = _report(tr, done, failed, N_("bk.moved"), stage=esc(truncate(stage_name(tr, stage), 60)))
    await _finish(callback, session, user, tr, state, t, view, report)


@router.callback_query(BkCB.filter(F.action == BkAction.PEOPLE))
async def bulk_people(
    callback: CallbackQuery, callback_data: BkCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext, callback_answer: CallbackAnswer,
) -> None:  # fmt: skip
    t = callback_data.t
    view = await require_selection(callback, state, session, user, tr, t, callback_answer)
    if view is None:
        return
    page = max(0, callback_data.n)
    users, total = await assignable_users(session, user, limit=USERS_PAGE, offset=page * USERS_PAGE)
    rows = [
        [bk_button(truncate(u.full_name or f"#{u.id}", 40), action=BkAction.RESPONSIBLE, t=t, id=u.id)]
        for u in users
    ]
    nav = []
    if page > 0:
        nav.append(bk_button(tr("views.prev"), action=BkAction.PEOPLE, t=t, n=page - 1))
    if (page + 1) * USERS_PAGE < total:
        nav.append(bk_button(tr("views.next"), action=BkAction.PEOPLE, t=t, n=page + 1))
    if nav:
        rows.append(nav)
    rows.append([ls_button(tr("views.back"), action=LsAction.PAGE, t=t, n=0)])
    text = tr("bk.responsible_title", count=len(view.selected))
    await show(callback, text, InlineKeyboardMarkup(inline_keyboard=rows))


@router.callback_query(BkCB.filter(F.action == BkAction.RESPONSIBLE))
async def bulk_responsible(
    callback: CallbackQuery, callback_data: BkCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext, callback_answer: CallbackAnswer,
) -> None:  # fmt: skip
    t = callback_data.t
    view = await require_selection(callback, state, session, user, tr, t, callback_answer)
    if view is None:
        return
    who = (await users_by_id(session, [callback_data.id])).get(callback_data.id)

    results = await bulk_service.change_responsible(session, user, t, view.selected, callback_data.id)
    done, failed = _outcome(tr, results)
    name = esc(truncate(who.full_name if who else f"#{callback_data.id}", 60))
    await _finish(
        callback, session, user, tr, state, t, view, _report(tr, done, failed, N_("bk.reassigned"), name=name)
    )


@router.callback_query(BkCB.filter(F.action == BkAction.SCHEMES))
async def bulk_convert_screen(
    callback: CallbackQuery, callback_data: BkCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext, callback_answer: CallbackAnswer,
) -> None:  # fmt: skip
    t = callback_data.t
    if t != ItemType.LEAD:
        raise ValidationFailed("only leads are converted", item_type=t.value)
    view = await require_selection(callback, state, session, user, tr, t, callback_answer)
    if view is None:
        return
    rows = [
        [bk_button(tr(SCHEME_NAMES[s]), action=BkAction.CONVERT, t=t, v=s.value)]
        for s in conversion_service.Scheme
    ]
    rows.append([ls_button(tr("views.back"), action=LsAction.PAGE, t=t, n=callback_data.n)])
    await show(
        callback, tr("bk.convert_title", count=len(view.selected)), InlineKeyboardMarkup(inline_keyboard=rows)
    )


@router.callback_query(BkCB.filter(F.action == BkAction.CONVERT))
async def bulk_convert(
    callback: CallbackQuery, callback_data: BkCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext, callback_answer: CallbackAnswer,
) -> None:  # fmt: skip
    t = callback_data.t
    if t != ItemType.LEAD:
        raise ValidationFailed("only leads are converted", item_type=t.value)
    try:
        scheme = conversion_service.Scheme(callback_data.v)
    except ValueError as exc:
        raise ValidationFailed("unknown scheme", scheme=callback_data.v) from exc
    view = await require_selection(callback, state, session, user, tr, t, callback_answer)
    if view is None:
        return
    # crm_core converts each lead on its own (access, required fields, all or nothing per lead).
    results = await conversion_service.convert_leads_bulk(session, user, view.selected, scheme)
    ok = [r for r in results if r.ok]
    lines = [tr("bk.converted", count=len(ok), total=len(results), scheme=tr(SCHEME_NAMES[scheme]))]
    for r in results[:REPORT_LINES]:
        ref = f"L-{r.lead_id}"
        if r.ok:
            lines.append(tr("bk.converted_one", ref=ref, created=esc(", ".join(r.created)) or "—"))
        else:
            reason = describe_error(tr, r.error) if r.error else tr("error.generic")
            lines.append(tr("bk.not_converted_one", ref=ref, reason=reason))
    if len(results) > REPORT_LINES:
        lines.append(tr("bk.and_more", count=len(results) - REPORT_LINES))
    await _finish(callback, session, user, tr, state, t, view, "\n".join(lines))


@router.callback_query(BkCB.filter(F.action == BkAction.DELETE))
async def bulk_delete_ask(
    callback: CallbackQuery, callback_data: BkCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext, callback_answer: CallbackAnswer,
) -> None:  # fmt: skip
    t = callback_data.t
    view = await require_selection(callback, state, session, user, tr, t, callback_answer)
    if view is None:
        return
    refs = ", ".join(f"{t.prefix}-{i}" for i in view.selected[:20]) + (
        " …" if len(view.selected) > 20 else ""
    )
    rows = [
        [bk_button(tr("bk.delete_yes", count=len(view.selected)), action=BkAction.DELETE_YES, t=t)],
        [ls_button(tr("views.back"), action=LsAction.PAGE, t=t, n=callback_data.n)],
    ]
    await show(
        callback,
        tr("bk.delete_ask", count=len(view.selected), refs=refs),
        InlineKeyboardMarkup(inline_keyboard=rows),
    )


@router.callback_query(BkCB.filter(F.action == BkAction.DELETE_YES))
async def bulk_delete(
    callback: CallbackQuery, callback_data: BkCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext, callback_answer: CallbackAnswer,
) -> None:  # fmt: skip
    t = callback_data.t
    view = await require_selection(callback, state, session, user, tr, t, callback_answer)
    if view is None:
        return

    done, failed = _outcome(tr, await bulk_service.delete(session, user, t, view.selected))
    await _finish(callback, session, user, tr, state, t, view, _report(tr, done, failed, N_("bk.deleted")))


__all__ = ["BkAction", "BkCB", "LsAction", "LsCB", "list_screen", "router", "show_list"]
