"""One imported row -> the values of an item, read by the field schema's parsers (so "1 500,50",
"+7 (916) 123-45-67" and "28.11.2026" read as they do when typed), plus the names a row gives for a
stage, a responsible or a source matched against what the CRM has."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import ValidationFailed
from crm_core.fields import FieldContext, Kind, get_field
from crm_core.fields.kinds import Money, parse_currency, parse_date, parse_email, parse_money, parse_phone
from crm_core.models.items import ITEM_MODELS, ItemType, Pipeline, Stage
from crm_core.models.users import User
from crm_core.services import pipelines as pipelines_service
from crm_core.services.communications import CommInput
from crm_core.services.imports.columns import COMM_TARGETS, ID, RESPONSIBLE, SKIP, STAGE, normalize_header
from crm_core.services.imports.reading import Cell

EXCEL_EPOCH = date(1899, 12, 30)


@dataclass
class RowValues:
    fields: dict[str, Any] = field(default_factory=dict)
    phones: list[CommInput] = field(default_factory=list)
    emails: list[CommInput] = field(default_factory=list)
    stage_id: int | None = None
    responsible_id: int | None = None
    item_id: int | None = None
    unknown: list[tuple[str, str]] = field(default_factory=list)  # (what, name) not matched


class ColumnError(ValidationFailed):
    """A cell that does not fit its field; `column` is the table's column name."""

    def __init__(self, column: str, cause: ValidationFailed) -> None:
        super().__init__(str(cause), **cause.params)
        self.column = column
        self.cause = cause


@dataclass
class Names:
    """Stages, people and sources by the names an imported row may give them."""

    stages: dict[str, int]
    users: dict[str, int]
    sources: dict[str, str]
    default_stage_id: int | None = None  # where a row naming no (known) stage goes

    @classmethod
    async def load(
        cls, session: AsyncSession, item_type: ItemType, stage_aliases: dict[str, int] | None = None
    ) -> Names:
        stages: dict[str, int] = {}
        default_stage_id = None
        if item_type.has_stages:
            pipeline = await pipelines_service.default_pipeline(session, item_type)
            default_stage_id = (await pipelines_service.first_stage(session, pipeline.id)).id
            rows = await session.execute(
                select(Stage.id, Stage.code, Stage.name, Pipeline.is_default)
                .join(Pipeline, Pipeline.id == Stage.pipeline_id)
                .where(Stage.entity_type == item_type)
                .order_by(Pipeline.is_default.desc(), Pipeline.sort, Stage.sort)
            )
            for sid, code, name, _ in rows:
                for key in (code, name, f"{code}"):
                    if key:
                        stages.setdefault(normalize_header(key), sid)
            for key, sid in (stage_aliases or {}).items():
                stages.setdefault(normalize_header(key), sid)
        users: dict[str, int] = {}
        for uid, full_name, username in await session.execute(
            select(User.id, User.full_name, User.username).where(User.is_active.is_(True))
        ):
            users[str(uid)] = uid
            if full_name:
                users.setdefault(normalize_header(full_name), uid)
                parts = full_name.split()
                if len(parts) == 2:  # "Иванов Иван" as well as "Иван Иванов"
                    users.setdefault(normalize_header(" ".join(reversed(parts))), uid)
            if username:
                users.setdefault(normalize_header(username), uid)
        model = ITEM_MODELS[item_type]
        sources = {
            normalize_header(s): s
            for s in await session.scalars(select(func.min(model.source)).group_by(func.lower(model.source)))
            if s
        }
        return cls(stages, users, sources, default_stage_id)


def cell_text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, datetime):
        return cell.isoformat(sep=" ")
    if isinstance(cell, date):
        return cell.isoformat()
    return str(cell).strip()


def _date(cell: Cell, ctx: FieldContext) -> date:
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        if 1 <= cell < 2958466:  # an Excel serial day number
            return EXCEL_EPOCH + timedelta(days=int(cell))
        raise ValidationFailed("invalid date", field="date", value=str(cell))
    text = cell_text(cell)
    head = text.split(" ")[0].split("T")[0]
    try:
        return date.fromisoformat(head)
    except ValueError:
        return parse_date(text, ctx)


def _money(cell: Cell, ctx: FieldContext) -> Money:
    if isinstance(cell, int | float | Decimal) and not isinstance(cell, bool):
        return Money(Decimal(str(cell)), None)
    return parse_money(cell_text(cell), ctx)


def convert_row(
    item_type: ItemType,
    columns: list[str],
    mapping: list[str],
    row: list[Cell],
    names: Names,
    ctx: FieldContext,
) -> RowValues:
    """The item values of one row. Raises ColumnError for a cell that does not fit its field."""
    out = RowValues()
    currency_given = False
    for i, target in enumerate(mapping):
        if target == SKIP or i >= len(row):
            continue
        cell = row[i]
        text = cell_text(cell)
        if not text:
            continue
        column = columns[i] if i < len(columns) else str(i + 1)
        try:
            if target in COMM_TARGETS:
                kind, value_type = COMM_TARGETS[target]
                bucket = out.phones if kind == "phone" else out.emails
                for part in text.replace(";", ",").split(","):
                    part = part.strip()
                    if part:
                        value = parse_phone(part, ctx) if kind == "phone" else parse_email(part, ctx)
                        if value not in [c.value for c in out.phones + out.emails]:
                            bucket.append(CommInput(value, value_type))
            elif target == STAGE:
                sid = names.stages.get(normalize_header(text))
                if sid is None:
                    out.unknown.append((STAGE, text))
                out.stage_id = sid
            elif target == RESPONSIBLE:
                uid = names.users.get(normalize_header(text.lstrip("@")))
                if uid is None:
                    out.unknown.append((RESPONSIBLE, text))
                out.responsible_id = uid
            elif target == ID:
                try:
                    out.item_id = int(text.split("-")[-1])
                except ValueError:
                    out.item_id = None
            else:
                f = get_field(item_type, target)
                if f.kind == Kind.MONEY:
                    money = _money(cell, ctx)
                    out.fields[target] = f.clean(money.amount)
                    if money.currency and not currency_given:
                        out.fields["currency"] = money.currency
                elif f.kind == Kind.CURRENCY:
                    out.fields[target] = parse_currency(text, ctx)
                    currency_given = True
                elif f.kind == Kind.DATE:
                    out.fields[target] = _date(cell, ctx)
                elif target == "source":
                    known = names.sources.get(normalize_header(text))
                    if known is None:
                        out.unknown.append(("source", text))
                    out.fields[target] = f.clean(known or text)
                else:
                    out.fields[target] = f.clean(text)
        except ValidationFailed as exc:
            raise ColumnError(column, exc) from exc
    return out
