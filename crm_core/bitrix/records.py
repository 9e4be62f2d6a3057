"""Our items as Bitrix24 records, and Bitrix24 `fields` as changes to our items.

Reading: every value is a string as Bitrix24 gives it (ids, amounts "1500.00", flags "Y"/"N"),
datetimes ISO 8601 with the reader's UTC offset, multifields PHONE/EMAIL as
[{ID, VALUE_TYPE, VALUE, TYPE_ID}]. Writing goes through the item services (create_item,
update_item, move_stage, change_responsible), so access, timeline and notifications are theirs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.bitrix.codes import (
    BY_CODE,
    FIELDS,
    MULTIFIELDS,
    SEMANTIC_CODES,
    VALUE_TYPES_IN,
    VALUE_TYPES_OUT,
)
from crm_core.errors import NotFound, ValidationFailed
from crm_core.fields.kinds import clean_id
from crm_core.models.items import (
    AnyItem,
    CommKind,
    Communication,
    CommValueType,
    Contact,
    Deal,
    ItemType,
    Lead,
    Pipeline,
    Stage,
    contact_companies,
)
from crm_core.models.users import User
from crm_core.services import items as items_service
from crm_core.services import pipelines as pl
from crm_core.services.communications import CommInput, get_communications

# --- codes of stages and pipelines ---------------------------------------------------------------


@dataclass
class Codebook:
    """Stages and pipelines with their Bitrix24 codes: a lead's STATUS_ID is its stage's code; a
    deal's CATEGORY_ID is 0 for the default pipeline (else the pipeline's id) and its STAGE_ID is the
    stage's code, prefixed "C<category>:" outside the default pipeline."""

    stages: dict[int, Stage]
    pipelines: dict[int, Pipeline]

    @classmethod
    async def load(cls, session: AsyncSession) -> Codebook:
        stages = {s.id: s for s in await session.scalars(select(Stage).order_by(Stage.sort, Stage.id))}
        pipelines = {
            p.id: p for p in await session.scalars(select(Pipeline).order_by(Pipeline.sort, Pipeline.id))
        }
        return cls(stages, pipelines)

    def category_id(self, pipeline_id: int) -> int:
        pipeline = self.pipelines[pipeline_id]
        return 0 if pipeline.is_default else pipeline.id

    def pipeline_of_category(self, item_type: ItemType, category_id: Any) -> Pipeline:
        try:
            number = int(category_id)
        except (TypeError, ValueError) as exc:
            raise ValidationFailed("invalid value", field="CATEGORY_ID", value=str(category_id)) from exc
        for p in self.pipelines.values():
            if p.entity_type == item_type and ((number == 0 and p.is_default) or (p.id == number and number)):
                return p
        raise ValidationFailed("unknown category", field="CATEGORY_ID", value=str(category_id))

    def stage_code(self, stage: Stage) -> str:
        category = self.category_id(stage.pipeline_id)
        return f"C{category}:{stage.code}" if category else stage.code

    def stages_of(self, pipeline_id: int) -> list[Stage]:
        return [s for s in self.stages.values() if s.pipeline_id == pipeline_id]

    def stage_by_code(self, item_type: ItemType, code: Any, category_id: Any = None) -> Stage:
        """The stage a STATUS_ID / STAGE_ID names (within CATEGORY_ID when given)."""
        text = str(code or "").strip()
        category: Any = category_id
        if ":" in text and text.startswith("C"):
            prefix, text = text.split(":", 1)
            category = prefix[1:]
        pipeline = self.pipeline_of_category(item_type, category if category is not None else 0)
        for stage in self.stages_of(pipeline.id):
            if stage.code == text:
                return stage
        field_name = "STATUS_ID" if item_type == ItemType.LEAD else "STAGE_ID"
        raise ValidationFailed("unknown stage", field=field_name, value=str(code))


# --- reading ---------------------------------------------------------------------------------------


def bx_datetime(value: datetime | None, tz: ZoneInfo) -> str | None:
    return value.astimezone(tz).isoformat(timespec="seconds") if value else None


def _plain(value: Any, kind: str, tz: ZoneInfo) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        return bx_datetime(value, tz)
    if kind == "date":
        # Bitrix24 gives a date field as midnight of that day with the offset
        return datetime.combine(value, datetime.min.time(), tz).isoformat(timespec="seconds")
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


@dataclass
class Extras:
    """What records of several items need beyond their rows, loaded in one query each."""

    comms: dict[int, list[Communication]] = field(default_factory=dict)
    companies: dict[int, list[int]] = field(default_factory=dict)


async def load_extras(
    session: AsyncSession, item_type: ItemType, ids: Sequence[int], *, with_comms: bool
) -> Extras:
    extras = Extras()
    if not ids:
        return extras
    if with_comms and item_type != ItemType.DEAL:
        extras.comms = await get_communications(session, item_type, list(ids))
    if item_type == ItemType.CONTACT:
        rows = await session.execute(
            select(contact_companies.c.contact_id, contact_companies.c.company_id)
            .where(contact_companies.c.contact_id.in_(list(ids)))
            .order_by(contact_companies.c.company_id)
        )
        for contact_id, company_id in rows:
            extras.companies.setdefault(contact_id, []).append(company_id)
    return extras


def multifield(comms: Iterable[Communication], kind: CommKind) -> list[dict[str, str]]:
    type_id = "PHONE" if kind == CommKind.PHONE else "EMAIL"
    return [
        {"ID": str(c.id), "VALUE_TYPE": VALUE_TYPES_OUT[c.value_type], "VALUE": c.value, "TYPE_ID": type_id}
        for c in comms
        if c.kind == kind
    ]


def to_record(
    item: AnyItem, book: Codebook, extras: Extras, tz: ZoneInfo, select_codes: Iterable[str] | None = None
) -> dict[str, Any]:
    """The item as Bitrix24 gives it, with the fields `select_codes` names (all of them when None)."""
    item_type = item.ITEM_TYPE
    wanted = list(select_codes) if select_codes is not None else [f.code for f in FIELDS[item_type]]
    out: dict[str, Any] = {}
    for code in wanted:
        spec = BY_CODE[item_type].get(code)
        if spec is None:
            continue
        if code in MULTIFIELDS:
            kind = CommKind.PHONE if code == "PHONE" else CommKind.EMAIL
            values = multifield(extras.comms.get(item.id, []), kind)
            if values:  # Bitrix24 leaves out an empty multifield
                out[code] = values
            continue
        if code in ("STATUS_ID", "STAGE_ID"):
            out[code] = book.stage_code(book.stages[item.stage_id])  # type: ignore[union-attr]
        elif code in ("STATUS_SEMANTIC_ID", "STAGE_SEMANTIC_ID"):
            out[code] = SEMANTIC_CODES[book.stages[item.stage_id].semantics]  # type: ignore[union-attr]
        elif code == "CATEGORY_ID":
            out[code] = str(book.category_id(item.pipeline_id))  # type: ignore[union-attr]
        elif code == "COMPANY_ID" and isinstance(item, Contact):
            companies = extras.companies.get(item.id, [])
            out[code] = str(companies[0]) if companies else None
        else:
            out[code] = _plain(getattr(item, spec.attr or ""), spec.type, tz)
    return out


# --- writing ---------------------------------------------------------------------------------------


@dataclass
class Change:
    """Bitrix24 `fields` sorted into what our services take."""

    values: dict[str, Any] = field(default_factory=dict)
    responsible_id: int | None = None
    phones: list[dict[str, Any]] | None = None
    emails: list[dict[str, Any]] | None = None
    stage_code: str | None = None
    category_id: Any = None
    company_ids: list[int] | None = None


def as_list(value: Any) -> list[Any]:
    """A PHP-style array (a dict with keys "0", "1", ...) or a list, as a list."""
    if isinstance(value, Mapping):
        try:
            return [value[k] for k in sorted(value, key=lambda k: int(k))]
        except (TypeError, ValueError):
            return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def parse_fields(item_type: ItemType, raw: Any) -> Change:
    """Fields we do not have, and read-only ones, are ignored as Bitrix24 ignores them."""
    if not isinstance(raw, Mapping):
        raise ValidationFailed("fields must be an object", field="fields")
    change = Change()
    known = BY_CODE[item_type]
    for key, value in raw.items():
        code = str(key).upper()
        spec = known.get(code)
        if spec is None:
            continue
        if code == "PHONE":
            change.phones = _multifield_in(value)
        elif code == "EMAIL":
            change.emails = _multifield_in(value)
        elif code in ("STATUS_ID", "STAGE_ID"):
            change.stage_code = str(value)
        elif code == "CATEGORY_ID":
            change.category_id = value
        elif code == "ASSIGNED_BY_ID":
            change.responsible_id = clean_id(value, "ASSIGNED_BY_ID")
        elif code == "COMPANY_ID" and item_type == ItemType.CONTACT:
            change.company_ids = [
                clean_id(v, "COMPANY_ID") for v in as_list(value) if v not in (None, "", "0")
            ]
        elif spec.read_only or spec.attr is None:
            continue
        else:
            change.values[spec.attr] = _value_in(spec.attr, value)
    return change


def _multifield_in(value: Any) -> list[dict[str, Any]]:
    """Entries as Bitrix24 takes them; a bare value ("+7...") is taken as one new WORK entry."""
    out: list[dict[str, Any]] = []
    for entry in as_list(value):
        if isinstance(entry, Mapping):
            out.append(dict(entry))
        elif entry not in (None, ""):
            out.append({"VALUE": str(entry)})
    return out


def _value_in(attr: str, value: Any) -> Any:
    if value in ("", None):
        return None
    if attr.endswith("_id") and str(value) == "0":  # Bitrix24's "no link"
        return None
    if attr in ("begin_date", "close_date") and isinstance(value, str) and "T" in value:
        return value.split("T", 1)[0]
    return value


def _comm_inputs(
    entries: list[dict[str, Any]], current: list[Communication], kind: CommKind
) -> list[CommInput]:
    """Bitrix24's multifield update: an entry with an ID changes (or with DELETE=Y removes) that
    value, one without an ID is added; values not named are kept."""
    kept: dict[int, CommInput] = {c.id: CommInput(c.value, c.value_type) for c in current if c.kind == kind}
    added: list[CommInput] = []
    for entry in entries:
        e = {str(k).upper(): v for k, v in entry.items()}
        value_type = VALUE_TYPES_IN.get(str(e.get("VALUE_TYPE") or "WORK").upper(), CommValueType.OTHER)
        value = str(e.get("VALUE") or "").strip()
        raw_id = e.get("ID")
        if raw_id not in (None, ""):
            try:
                cid = int(raw_id)
            except (TypeError, ValueError):
                cid = None
            if cid in kept:
                if str(e.get("DELETE") or "").upper() == "Y" or not value:
                    del kept[cid]
                else:
                    kept[cid] = CommInput(value, value_type)
            continue
        if value:
            added.append(CommInput(value, value_type))
    return list(kept.values()) + added


async def create_from(
    session: AsyncSession,
    actor: User,
    item_type: ItemType,
    change: Change,
    book: Codebook,
    region: str | None,
) -> AnyItem:
    stage_id = pipeline_id = None
    if item_type.has_stages:
        if change.stage_code:
            stage_id = book.stage_by_code(item_type, change.stage_code, change.category_id).id
        elif change.category_id is not None:
            pipeline_id = book.pipeline_of_category(item_type, change.category_id).id
    return await items_service.create_item(
        session,
        actor,
        item_type,
        change.values,
        phones=_comm_inputs(change.phones or [], [], CommKind.PHONE),
        emails=_comm_inputs(change.emails or [], [], CommKind.EMAIL),
        responsible_id=change.responsible_id,
        company_ids=change.company_ids or (),
        pipeline_id=pipeline_id,
        stage_id=stage_id,
        default_region=region,
    )


async def update_from(
    session: AsyncSession, actor: User, item: AnyItem, change: Change, book: Codebook, region: str | None
) -> None:
    phones = emails = None
    if change.phones is not None or change.emails is not None:
        current = (await get_communications(session, item.ITEM_TYPE, [item.id]))[item.id]
        if change.phones is not None:
            phones = _comm_inputs(change.phones, current, CommKind.PHONE)
        if change.emails is not None:
            emails = _comm_inputs(change.emails, current, CommKind.EMAIL)
    # Everything is checked before anything changes: a bad stage code fails the whole call.
    target = None
    if isinstance(item, (Lead, Deal)) and (change.stage_code or change.category_id is not None):
        if change.stage_code:
            category = change.category_id
            if category is None and not change.stage_code.startswith("C"):
                category = book.category_id(item.pipeline_id)
            target = book.stage_by_code(item.ITEM_TYPE, change.stage_code, category)
        else:
            pipeline = book.pipeline_of_category(item.ITEM_TYPE, change.category_id)
            if pipeline.id != item.pipeline_id:
                target = await pl.resolve_target_stage(session, item.ITEM_TYPE, pipeline_id=pipeline.id)
    if change.responsible_id is not None and await session.get(User, change.responsible_id) is None:
        raise NotFound(user_id=change.responsible_id)
    await items_service.update_item(
        session, actor, item, change.values, phones=phones, emails=emails, default_region=region
    )
    if target is not None:
        await pl.move_stage(session, actor, item, target.id)  # type: ignore[arg-type]
    if change.responsible_id is not None:
        await items_service.change_responsible(session, actor, item, change.responsible_id)
    if isinstance(item, Contact) and change.company_ids is not None:
        from crm_core.models.items import Company

        for company_id in change.company_ids:
            company = await items_service.get_item(session, actor, ItemType.COMPANY, company_id)
            assert isinstance(company, Company)
            await items_service.link_contact_company(session, actor, item, company)
