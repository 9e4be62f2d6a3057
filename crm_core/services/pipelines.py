"""Pipelines and stages (data, edited by admins) and moving leads/deals between stages.

Invariant: every pipeline has exactly one success stage and at least one failure stage.
A move writes stage history (time spent in the previous stage) and a stage_changed event;
a failure stage closes the item as lost, the success stage as won, a process stage reopens it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam, event, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as SyncSession
from sqlalchemy.orm.attributes import set_committed_value

from crm_core import cache
from crm_core.clock import ensure_utc, utcnow
from crm_core.errors import NotFound, PipelineInvariantViolated, StageNotEmpty, ValidationFailed
from crm_core.models.items import Deal, ItemType, Lead, Pipeline, Stage, StageHistory, StageSemantics
from crm_core.models.timeline import EventType
from crm_core.models.users import User
from crm_core.permissions import ensure_admin, ensure_can_edit
from crm_core.rows import insert_now
from crm_core.services.timeline import add_event
from crm_core.services.versioning import check_version, flush_or_conflict

STAGED_TYPES = (ItemType.LEAD, ItemType.DEAL)

# Codes of the seeded pipelines (migration 0002; their names are the bot's catalogs').
LEAD_PIPELINE_CODE = "LEADS"
GENERAL_PIPELINE_CODE = "GENERAL"

# Stages a new deal pipeline starts with (same as the seeded "General" one): code, semantics,
# colour. They have no literal name: the bot names them by code in the reader's language.
DEFAULT_DEAL_STAGES: list[tuple[str, StageSemantics, str]] = [
    ("NEW", StageSemantics.PROCESS, "#39A8EF"),
    ("PREPARATION", StageSemantics.PROCESS, "#2FC6F6"),
    ("PREPAYMENT_INVOICE", StageSemantics.PROCESS, "#55D0E0"),
    ("EXECUTING", StageSemantics.PROCESS, "#47E4C2"),
    ("FINAL_INVOICE", StageSemantics.PROCESS, "#FFA900"),
    ("WON", StageSemantics.SUCCESS, "#7BD500"),
    ("LOSE", StageSemantics.FAILURE, "#FF5752"),
    ("APOLOGY", StageSemantics.FAILURE, "#FF5752"),
]

T = TypeVar("T", Pipeline, Stage)


# --- reading ------------------------------------------------------------------------------------


async def list_pipelines(session: AsyncSession, entity_type: ItemType | str) -> Sequence[Pipeline]:
    entity_type = ItemType(entity_type)
    table = await cache.table(session, Pipeline)
    if table is not None:
        ids = cache.derived(table, ("pipelines", entity_type), lambda rows: _pipeline_ids(rows, entity_type))
        return [cache.attach(session, Pipeline, table.by_id[i]) for i in ids]
    return (
        await session.scalars(
            select(Pipeline)
            .where(Pipeline.entity_type == ItemType(entity_type))
            .order_by(Pipeline.sort, Pipeline.id)
        )
    ).all()


def _pipeline_ids(rows: Sequence[dict[str, Any]], entity_type: ItemType) -> list[int]:
    """A type's pipelines in `list_pipelines`' order."""
    mine = [r for r in rows if r["entity_type"] == entity_type]
    return [r["id"] for r in sorted(mine, key=lambda r: (r["sort"], r["id"]))]


async def _by_id(session: AsyncSession, model: type[T], ident: int, **missing: Any) -> T:
    """A pipeline or stage by id, from the cache when this unit of work may use it."""
    table = await cache.table(session, model)
    if table is not None:
        values = table.by_id.get(ident)
        found = cache.attach(session, model, values) if values is not None else None
    else:
        found = await session.get(model, ident)
    if found is None:
        raise NotFound(**missing)
    return found


async def get_pipeline(session: AsyncSession, pipeline_id: int) -> Pipeline:
    return await _by_id(session, Pipeline, pipeline_id, pipeline_id=pipeline_id)


async def default_pipeline(session: AsyncSession, entity_type: ItemType | str) -> Pipeline:
    entity_type = ItemType(entity_type)
    table = await cache.table(session, Pipeline)
    if table is not None:
        found = cache.derived(table, ("default", entity_type), lambda rows: _default_id(rows, entity_type))
        if found is None:
            raise NotFound(entity_type=str(entity_type))
        return cache.attach(session, Pipeline, table.by_id[found])
    pipeline = await session.scalar(
        select(Pipeline)
        .where(Pipeline.entity_type == ItemType(entity_type))
        .order_by(Pipeline.is_default.desc(), Pipeline.sort, Pipeline.id)
        .limit(1)
    )
    if pipeline is None:
        raise NotFound(entity_type=str(entity_type))
    return pipeline


def _default_id(rows: Sequence[dict[str, Any]], entity_type: ItemType) -> int | None:
    """The order of `default_pipeline`'s query: the default one, else by sort and id."""
    mine = [r for r in rows if r["entity_type"] == entity_type]
    if not mine:
        return None
    return min(mine, key=lambda r: (not r["is_default"], r["sort"], r["id"]))["id"]


_RANK = {StageSemantics.PROCESS: 0, StageSemantics.SUCCESS: 1, StageSemantics.FAILURE: 2}


def _stage_ids(rows: Sequence[dict[str, Any]], pipeline_id: int) -> list[int]:
    mine = [r for r in rows if r["pipeline_id"] == pipeline_id]
    return [r["id"] for r in sorted(mine, key=lambda r: (_RANK[r["semantics"]], r["sort"], r["id"]))]


async def list_stages(session: AsyncSession, pipeline_id: int) -> Sequence[Stage]:
    """Stages in board order: process stages by sort, then success, then failure ones.

    From crm_core.cache when this unit of work may use it; else remembered for the rest of the
    unit of work (an update renders them several times), unless stages are being changed in it."""
    table = await cache.table(session, Stage)
    if table is not None:
        ids = cache.derived(table, ("stages", pipeline_id), lambda rows: _stage_ids(rows, pipeline_id))
        return [cache.attach(session, Stage, table.by_id[i]) for i in ids]
    memo: dict[int, list[Stage]] = session.info.setdefault(_STAGES_MEMO, {})
    changing = _stages_changing(session)
    if not changing and pipeline_id in memo:
        return list(memo[pipeline_id])
    rows = (
        await session.scalars(
            select(Stage).where(Stage.pipeline_id == pipeline_id).order_by(Stage.sort, Stage.id)
        )
    ).all()
    ordered = sorted(rows, key=lambda s: (_RANK[s.semantics], s.sort, s.id))
    if changing:
        memo.clear()
    else:
        memo[pipeline_id] = ordered
    return list(ordered)


_STAGES_MEMO = "crm_core.stages"


def _stages_changing(session: AsyncSession) -> bool:
    sync = session.sync_session
    return any(isinstance(o, Stage | Pipeline) for o in (*sync.new, *sync.dirty, *sync.deleted))


@event.listens_for(SyncSession, "after_flush")
def _forget_stages(session: SyncSession, _context: object) -> None:
    if any(isinstance(o, Stage | Pipeline) for o in (*session.new, *session.dirty, *session.deleted)):
        session.info.pop(_STAGES_MEMO, None)


@event.listens_for(SyncSession, "after_bulk_update")
@event.listens_for(SyncSession, "after_bulk_delete")
def _forget_stages_bulk(update_context: Any) -> None:
    mapper = getattr(update_context, "mapper", None)
    if mapper is None or mapper.class_ in (Stage, Pipeline):
        update_context.session.info.pop(_STAGES_MEMO, None)


async def get_stage(session: AsyncSession, stage_id: int) -> Stage:
    return await _by_id(session, Stage, stage_id, stage_id=stage_id)


async def first_stage(session: AsyncSession, pipeline_id: int) -> Stage:
    stages = await list_stages(session, pipeline_id)
    if not stages:
        raise NotFound(pipeline_id=pipeline_id)
    return stages[0]


async def success_stage(session: AsyncSession, pipeline_id: int) -> Stage:
    if await cache.table(session, Stage) is not None:
        for stage in await list_stages(session, pipeline_id):
            if stage.semantics == StageSemantics.SUCCESS:
                return stage
        raise PipelineInvariantViolated("no success stage", pipeline_id=pipeline_id)
    stage = await session.scalar(
        select(Stage).where(Stage.pipeline_id == pipeline_id, Stage.semantics == StageSemantics.SUCCESS)
    )
    if stage is None:
        raise PipelineInvariantViolated("no success stage", pipeline_id=pipeline_id)
    return stage


async def failure_stages(session: AsyncSession, pipeline_id: int) -> list[Stage]:
    return [s for s in await list_stages(session, pipeline_id) if s.semantics == StageSemantics.FAILURE]


async def resolve_target_stage(
    session: AsyncSession, item_type: ItemType, *, pipeline_id: int | None = None, stage_id: int | None = None
) -> Stage:
    """The stage a new lead/deal starts on: the given stage, else the first of the pipeline."""
    if stage_id is not None:
        stage = await get_stage(session, stage_id)
        pipeline = await get_pipeline(session, stage.pipeline_id)
        if pipeline.entity_type != item_type or (
            pipeline_id is not None and stage.pipeline_id != pipeline_id
        ):
            raise ValidationFailed("stage of another pipeline", stage_id=stage_id)
        return stage
    if pipeline_id is not None:
        pipeline = await get_pipeline(session, pipeline_id)
        if pipeline.entity_type != item_type:
            raise ValidationFailed("pipeline of another item type", pipeline_id=pipeline_id)
    else:
        pipeline = await default_pipeline(session, item_type)
    return await first_stage(session, pipeline.id)


# --- admin: pipelines and stages ----------------------------------------------------------------


async def create_pipeline(
    session: AsyncSession,
    actor: User,
    *,
    name: str,
    entity_type: ItemType | str = ItemType.DEAL,
    sort: int | None = None,
) -> Pipeline:
    """A new deal pipeline with the default stages. There is only one lead pipeline.
    `name` is the admin's wording, shown as is in every language."""
    ensure_admin(actor)
    if ItemType(entity_type) != ItemType.DEAL:
        raise ValidationFailed("only deals have several pipelines", entity_type=str(entity_type))
    if sort is None:
        sort = (await session.scalar(select(func.max(Pipeline.sort))) or 0) + 10
    pipeline = Pipeline(entity_type=ItemType.DEAL, name=_name(name), sort=sort, is_default=False)
    session.add(pipeline)
    await session.flush()
    for i, (code, semantics, color) in enumerate(DEFAULT_DEAL_STAGES):
        session.add(
            Stage(
                pipeline_id=pipeline.id,
                entity_type=ItemType.DEAL,
                code=code,
                name=None,
                sort=(i + 1) * 10,
                color=color,
                semantics=semantics,
            )
        )
    await session.flush()
    return pipeline


async def rename_pipeline(
    session: AsyncSession,
    actor: User,
    pipeline_id: int,
    *,
    name: str,
) -> Pipeline:
    """Name a pipeline in the admin's words (a seeded one stops following the bot's language)."""
    ensure_admin(actor)
    pipeline = await get_pipeline(session, pipeline_id)
    pipeline.name = _name(name)
    await session.flush()
    return pipeline


def _name(value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationFailed("empty name", field="name")
    return value[:200]


def _color(value: str) -> str:
    value = value.strip()
    if not (
        len(value) == 7 and value.startswith("#") and all(c in "0123456789abcdefABCDEF" for c in value[1:])
    ):
        raise ValidationFailed("invalid colour", field="color", value=value)
    return value.upper()


async def create_stage(
    session: AsyncSession,
    actor: User,
    pipeline_id: int,
    *,
    name: str,
    semantics: StageSemantics | str = StageSemantics.PROCESS,
    color: str = "#39A8EF",
    sort: int | None = None,
    code: str | None = None,
) -> Stage:
    """Add a stage (at the end of its group unless `sort`). A second success stage is refused."""
    ensure_admin(actor)
    pipeline = await get_pipeline(session, pipeline_id)
    semantics = StageSemantics(semantics)
    stages = await list_stages(session, pipeline_id)
    if semantics == StageSemantics.SUCCESS and any(s.semantics == StageSemantics.SUCCESS for s in stages):
        raise PipelineInvariantViolated("only one success stage", pipeline_id=pipeline_id)
    if sort is None:
        same = [s.sort for s in stages if s.semantics == semantics]
        sort = (max(same) if same else max((s.sort for s in stages), default=0)) + 5
    stage = Stage(
        pipeline_id=pipeline_id,
        entity_type=pipeline.entity_type,
        name=_name(name),
        semantics=semantics,
        color=_color(color),
        sort=sort,
        code="",
    )
    session.add(stage)
    await session.flush()
    stage.code = code or f"C{stage.id}"
    await session.flush()
    return stage


async def update_stage(
    session: AsyncSession,
    actor: User,
    stage_id: int,
    *,
    name: str | None = None,
    color: str | None = None,
) -> Stage:
    """Rename (in the admin's words, shown as is in every language) and/or recolour a stage."""
    ensure_admin(actor)
    stage = await get_stage(session, stage_id)
    if name is not None:
        stage.name = _name(name)
    if color is not None:
        stage.color = _color(color)
    await session.flush()
    return stage


async def reorder_stages(
    session: AsyncSession, actor: User, pipeline_id: int, stage_ids: Sequence[int]
) -> None:
    """Set the order of a pipeline's stages; `stage_ids` must list each of its stages once."""
    ensure_admin(actor)
    stages = {s.id: s for s in await list_stages(session, pipeline_id)}
    if sorted(stage_ids) != sorted(stages):
        raise ValidationFailed("stage list does not match the pipeline", pipeline_id=pipeline_id)
    for i, sid in enumerate(stage_ids):
        stages[sid].sort = (i + 1) * 10
    await session.flush()


async def count_items_on_stage(session: AsyncSession, stage_id: int) -> int:
    """Items on a stage, trashed ones included (they may be restored there)."""
    total = 0
    for model in (Lead, Deal):
        total += (
            await session.scalar(select(func.count()).select_from(model).where(model.stage_id == stage_id))
            or 0
        )
    return total


async def delete_stage(session: AsyncSession, actor: User, stage_id: int) -> None:
    """Delete an empty stage, unless it is the success stage or the last failure stage."""
    ensure_admin(actor)
    stage = await get_stage(session, stage_id)
    count = await count_items_on_stage(session, stage_id)
    if count:
        raise StageNotEmpty(stage_id=stage_id, count=count)
    stages = await list_stages(session, stage.pipeline_id)
    if stage.semantics == StageSemantics.SUCCESS:
        raise PipelineInvariantViolated("the success stage cannot be deleted", stage_id=stage_id)
    if (
        stage.semantics == StageSemantics.FAILURE
        and sum(s.semantics == StageSemantics.FAILURE for s in stages) < 2
    ):
        raise PipelineInvariantViolated("the last failure stage cannot be deleted", stage_id=stage_id)
    if (
        stage.semantics == StageSemantics.PROCESS
        and sum(s.semantics == StageSemantics.PROCESS for s in stages) < 2
    ):
        raise PipelineInvariantViolated("the last process stage cannot be deleted", stage_id=stage_id)
    # Its history rows go with it (FK cascade); the items' timeline keeps the moves.
    await session.delete(stage)
    await session.flush()


async def check_invariants(session: AsyncSession, pipeline_id: int) -> None:
    stages = await list_stages(session, pipeline_id)
    if sum(s.semantics == StageSemantics.SUCCESS for s in stages) != 1:
        raise PipelineInvariantViolated("exactly one success stage", pipeline_id=pipeline_id)
    if not any(s.semantics == StageSemantics.FAILURE for s in stages):
        raise PipelineInvariantViolated("at least one failure stage", pipeline_id=pipeline_id)


# --- moving items -------------------------------------------------------------------------------


def apply_stage_semantics(item: Lead | Deal, stage: Stage, now: datetime) -> None:
    """closed/won follow the stage: success -> won, failure -> lost, process -> open again."""
    if stage.semantics == StageSemantics.PROCESS:
        item.closed, item.won, item.closed_at = False, False, None
    else:
        if not item.closed:
            item.closed_at = now
        item.closed = True
        item.won = stage.semantics == StageSemantics.SUCCESS


async def open_stage_history(
    session: AsyncSession, item: Lead | Deal, stage: Stage, actor: User | None, now: datetime
) -> None:
    await insert_now(session, stage_history_row(item, stage, actor, now))


def stage_history_row(item: Lead | Deal, stage: Stage, actor: User | None, now: datetime) -> StageHistory:
    return StageHistory(
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        pipeline_id=stage.pipeline_id,
        stage_id=stage.id,
        entered_at=now,
        by_user_id=actor.id if actor else None,
    )


_SH = StageHistory.__table__
# Core, built once: as an ORM-enabled UPDATE it evaluated its WHERE against the session's objects
# at every move; the few loaded rows it could concern are kept in step below instead.
_CLOSE_OPEN_STAGE = (
    update(_SH)
    .where(_SH.c.owner_type == bindparam("t"), _SH.c.owner_id == bindparam("i"), _SH.c.left_at.is_(None))
    .values(left_at=bindparam("now"))
)


async def _close_stage_history(session: AsyncSession, item: Lead | Deal, now: datetime) -> None:
    """End the item's open stage record (the stage it leaves)."""
    await session.execute(_CLOSE_OPEN_STAGE, {"t": item.ITEM_TYPE, "i": item.id, "now": now})
    for row in list(session.sync_session.identity_map.values()):
        if (
            isinstance(row, StageHistory)
            and row.owner_type == item.ITEM_TYPE
            and row.owner_id == item.id
            and row.left_at is None
        ):
            set_committed_value(row, "left_at", now)


async def stage_history(session: AsyncSession, item: Lead | Deal) -> Sequence[StageHistory]:
    return (
        await session.scalars(
            select(StageHistory)
            .where(StageHistory.owner_type == item.ITEM_TYPE, StageHistory.owner_id == item.id)
            .order_by(StageHistory.entered_at, StageHistory.id)
        )
    ).all()


async def move_stage(
    session: AsyncSession,
    actor: User,
    item: Lead | Deal,
    stage_id: int,
    *,
    expected_version: int | None = None,
    now: datetime | None = None,
    extra_payload: dict[str, Any] | None = None,
    check_access: bool = True,
) -> bool:
    """Move a lead/deal to any stage of its pipeline (or, for a deal, of another pipeline).
    Returns False when it is already there. Raises AccessDenied, ConcurrencyConflict, NotFound."""
    if check_access:
        await ensure_can_edit(session, actor, item)
    check_version(item, expected_version)
    stage = await get_stage(session, stage_id)
    pipeline = await get_pipeline(session, stage.pipeline_id)
    if pipeline.entity_type != item.ITEM_TYPE:
        raise ValidationFailed("stage of another item type", stage_id=stage_id)
    if stage.id == item.stage_id:
        return False
    now = ensure_utc(now) if now else utcnow()
    old_stage = await get_stage(session, item.stage_id)
    old_pipeline_id = item.pipeline_id
    seconds = max(0, int((now - item.stage_entered_at).total_seconds())) if item.stage_entered_at else None
    item.stage_id = stage.id
    item.pipeline_id = stage.pipeline_id
    item.stage_entered_at = now
    apply_stage_semantics(item, stage, now)
    item.updated_by_id = actor.id
    item.updated_at = now
    # The version check happens here: a concurrent move makes this UPDATE match no row.
    await flush_or_conflict(session, item)
    await _close_stage_history(session, item, now)
    await open_stage_history(session, item, stage, actor, now)
    payload: dict[str, Any] = {
        "from_stage_id": old_stage.id,
        "to_stage_id": stage.id,
        # What names the stages when the event is read (they may be renamed or deleted by then):
        # the code (named by the reader's language) and the admin's literal name, if any.
        "from_code": old_stage.code,
        "from_name": old_stage.name,
        "to_code": stage.code,
        "to_name": stage.name,
        "to_semantics": str(stage.semantics),
        "seconds_in_previous": seconds,
    }
    if old_pipeline_id != stage.pipeline_id:
        payload.update(from_pipeline_id=old_pipeline_id, to_pipeline_id=stage.pipeline_id)
    payload.update(extra_payload or {})
    await add_event(
        session,
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        event_type=EventType.STAGE_CHANGED,
        author_id=actor.id,
        payload=payload,
        at=now,
    )
    return True


async def move_to_pipeline(
    session: AsyncSession,
    actor: User,
    deal: Deal,
    pipeline_id: int,
    *,
    stage_id: int | None = None,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> bool:
    """Move a deal to another pipeline: onto `stage_id` or that pipeline's first stage."""
    if not isinstance(deal, Deal):
        raise ValidationFailed("only deals change pipelines")
    target = await resolve_target_stage(session, ItemType.DEAL, pipeline_id=pipeline_id, stage_id=stage_id)
    return await move_stage(session, actor, deal, target.id, expected_version=expected_version, now=now)
