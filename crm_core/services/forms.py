"""Web forms: admins create, list and revoke form keys; a website posts a submission to a key and
gets a lead, read through the field schema like a typed one.

The rules of a submission live here once: which fields a form accepts, what makes one invalid
(reasons per field), how many submissions one address may make per minute, and who gets the
lead. The HTTP entrance (handlers/http/forms.py) only decodes the body and maps the outcome to a
status code.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import ensure_utc, utcnow
from crm_core.errors import NotFound, ValidationFailed
from crm_core.fields import FieldContext, get_field
from crm_core.models.forms import FormSubmission, WebForm
from crm_core.models.items import ItemType, Lead
from crm_core.models.notifications import NotificationCategory
from crm_core.models.users import User
from crm_core.permissions import ensure_admin
from crm_core.services import items as items_service
from crm_core.services import routing
from crm_core.services.notifications import notify

NAME_LIMIT = 100
KEY_BYTES = 18  # 24 URL-safe characters: not guessable
DEFAULT_SOURCE = "web_form"
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
UTM_LIMIT = 200
# What a form may send, and the lead field each goes to (company -> the lead's company name).
TEXT_FIELDS = {
    "title": "title",
    "name": "name",
    "last_name": "last_name",
    "company": "company_title",
    "position": "position",
    "comment": "comment",
    "source": "source",
}
CONTACT_FIELDS = ("phone", "email")


class FormInvalid(ValidationFailed):
    """The submission cannot make a lead; `errors` maps each field to its reason (a short code:
    required, too_long, invalid_phone, invalid_email, not_text)."""

    code = "form_invalid"

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("invalid form submission", errors=errors)
        self.errors = errors


# --- admin ----------------------------------------------------------------------------------------


async def create_form(
    session: AsyncSession,
    actor: User,
    name: str,
    *,
    responsible_id: int | None = None,
    routed: bool = False,
) -> WebForm:
    """A form's leads go to `responsible_id` (the creating admin by default) or, `routed`, by the
    client channel's routing rule, as clients who write to the bot do."""
    ensure_admin(actor)
    name = " ".join((name or "").split())
    if not name:
        raise ValidationFailed("empty name", field="name")
    if len(name) > NAME_LIMIT:
        raise ValidationFailed("text too long", field="name", max=NAME_LIMIT)
    responsible: User | None = None
    if not routed:
        responsible = await session.get(User, responsible_id or actor.id)
        if responsible is None:
            raise NotFound(user_id=responsible_id)
        if not responsible.is_active:
            raise ValidationFailed("inactive user", field="user", user_id=responsible.id)
    form = WebForm(
        key=secrets.token_urlsafe(KEY_BYTES),
        name=name,
        responsible_id=responsible.id if responsible else None,
        created_by_id=actor.id,
        created_at=utcnow(),
    )
    session.add(form)
    await session.flush()
    return form


async def list_forms(session: AsyncSession, actor: User) -> list[WebForm]:
    """The forms still accepting submissions, newest first."""
    ensure_admin(actor)
    rows = await session.scalars(
        select(WebForm).where(WebForm.revoked_at.is_(None)).order_by(WebForm.id.desc())
    )
    return list(rows)


async def get_form_for_admin(session: AsyncSession, actor: User, form_id: int) -> WebForm:
    ensure_admin(actor)
    form = await session.get(WebForm, form_id)
    if form is None or not form.active:
        raise NotFound(form_id=form_id)
    return form


async def revoke_form(session: AsyncSession, actor: User, form_id: int) -> WebForm:
    form = await get_form_for_admin(session, actor, form_id)
    form.revoked_at = utcnow()
    await session.flush()
    return form


async def count_submissions(session: AsyncSession, form_id: int) -> int:
    from sqlalchemy import func

    return int(
        await session.scalar(
            select(func.count()).select_from(FormSubmission).where(FormSubmission.form_id == form_id)
        )
        or 0
    )


# --- submissions ----------------------------------------------------------------------------------


async def active_form(session: AsyncSession, key: str) -> WebForm | None:
    """The form behind a key, or None when there is none or it was revoked."""
    if not key or len(key) > 64:
        return None
    form = await session.scalar(select(WebForm).where(WebForm.key == key))
    return form if form is not None and form.active else None


@dataclass(slots=True)
class Submission:
    fields: dict[str, Any]
    phones: list[str]
    emails: list[str]
    utm: dict[str, str]


def read_submission(data: Mapping[str, Any], *, region: str | None = None) -> Submission:
    """Check a submission through the field schema; FormInvalid lists every reason at once.
    Unknown keys are ignored (a website's own hidden fields, a honeypot, a submit button)."""
    ctx = FieldContext(region=region)
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for key, target in TEXT_FIELDS.items():
        raw = data.get(key)
        if raw is None:
            continue
        if not isinstance(raw, str | int | float) or isinstance(raw, bool):
            errors[key] = "not_text"
            continue
        try:
            value = get_field(ItemType.LEAD, target).clean(str(raw))
        except ValidationFailed:
            errors[key] = "too_long"
            continue
        if value:
            values[target] = value
    found: dict[str, list[str]] = {"phone": [], "email": []}
    for key in CONTACT_FIELDS:
        raw = data.get(key)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        if not isinstance(raw, str):
            errors[key] = "not_text"
            continue
        try:
            found[key] = list(get_field(ItemType.LEAD, key).parse(raw, ctx))
        except ValidationFailed:
            errors[key] = f"invalid_{key}"
    utm: dict[str, str] = {}
    for key in UTM_FIELDS:
        raw = data.get(key)
        if raw is None or raw == "":
            continue
        if not isinstance(raw, str):
            errors[key] = "not_text"
        elif len(raw.strip()) > UTM_LIMIT:
            errors[key] = "too_long"
        elif raw.strip():
            utm[key] = raw.strip()
    if not errors and not found["phone"] and not found["email"]:
        # A lead nobody can call back or write to is no lead: one of them is required.
        errors["phone"] = errors["email"] = "required"
    if errors:
        raise FormInvalid(errors)
    return Submission(values, found["phone"], found["email"], utm)


def _title(form: WebForm, sub: Submission) -> str:
    person = " ".join(p for p in (sub.fields.get("name"), sub.fields.get("last_name")) if p)
    who = person or sub.fields.get("company_title") or next(iter(sub.phones + sub.emails), "")
    limit = get_field(ItemType.LEAD, "title").limit
    return f"{form.name}: {who}"[:limit]


async def _receiver(session: AsyncSession, form: WebForm) -> User:
    """The form's responsible while active; a routed form's leads, or those of a responsible who
    left, go by the client channel's routing rule (fixed person or round robin on duty)."""
    if form.responsible_id is not None:
        user = await session.get(User, form.responsible_id)
        if user is not None and user.is_active:
            return user
    user = await session.get(User, await routing.route_new_client(session))
    if user is None:  # route_new_client only names existing active users
        raise NotFound(user_id=form.responsible_id)
    return user


async def submit(
    session: AsyncSession,
    form: WebForm,
    sub: Submission,
    *,
    address: str | None = None,
    region: str | None = None,
    now: datetime | None = None,
) -> Lead:
    """Create the lead of a checked submission, tag it with the form, and tell the responsible.
    A phone or e-mail the CRM knows makes it a repeat lead, as for a typed lead."""
    now = ensure_utc(now) if now else utcnow()
    responsible = await _receiver(session, form)
    fields = dict(sub.fields)
    fields.setdefault("title", _title(form, sub))
    fields.setdefault("source", DEFAULT_SOURCE)
    lead = await items_service.create_lead(
        session,
        responsible,
        **fields,
        phones=sub.phones,
        emails=sub.emails,
        responsible_id=responsible.id,
        # Nobody can be asked for a field an admin made required: the lead comes in as sent.
        check_required=False,
        default_region=region,
        now=now,
    )
    session.add(
        FormSubmission(form_id=form.id, lead_id=lead.id, address=address, utm=sub.utm, created_at=now)
    )
    # The lead was made in the responsible's name, so items_service told nobody: the form tells them.
    await notify(
        session,
        responsible.id,
        NotificationCategory.LEAD_ASSIGNED,
        {"owner_type": str(ItemType.LEAD), "owner_id": lead.id, "ref": lead.ref, "form": form.name},
        now=now,
    )
    await session.flush()
    return lead


# --- submission rate per address ------------------------------------------------------------------


class SubmissionLimiter(Protocol):
    """At most so many submissions per address in any 60 seconds: `acquire` answers the seconds to
    wait, or None when this submission may go ahead (and counts it)."""

    async def acquire(self, address: str) -> float | None: ...


@dataclass
class AddressLimiter:
    """At most `per_minute` submissions per address in any 60 seconds (a sliding window), in this
    process (bot/ holds it in Redis for several). `check` answers the seconds to wait, or None when
    the submission may go ahead."""

    per_minute: int
    clock: Callable[[], float] = time.monotonic
    max_addresses: int = 10_000
    _hits: dict[str, deque[float]] = field(default_factory=dict)

    def check(self, address: str) -> float | None:
        now = self.clock()
        hits = self._hits.get(address)
        if hits is None:
            if len(self._hits) >= self.max_addresses:
                self._forget(now)
            hits = self._hits[address] = deque()
        while hits and hits[0] <= now - 60:
            hits.popleft()
        if len(hits) >= self.per_minute:
            return max(hits[0] + 60 - now, 0.001)
        hits.append(now)
        return None

    async def acquire(self, address: str) -> float | None:
        return self.check(address)

    def _forget(self, now: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - 60]:
            del self._hits[key]
        if len(self._hits) >= self.max_addresses:
            self._hits.clear()
