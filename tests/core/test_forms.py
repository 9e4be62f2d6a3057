"""Web forms in crm_core: a submission read through the field schema, the lead it makes (given to
the form's responsible, who is told, tagged with the form), repeat leads, keys and the rate."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import AccessDenied, NotFound
from crm_core.models import FormSubmission, Notification, NotificationCategory
from crm_core.services import forms
from tests.core.factories import make_admin, make_contact, make_user


def test_reasons_are_given_per_field_at_once() -> None:
    with pytest.raises(forms.FormInvalid) as err:
        forms.read_submission(
            {"name": "x" * 101, "phone": "call me", "email": "not-an-email", "utm_source": 5}
        )
    assert err.value.errors == {
        "name": "too_long",
        "phone": "invalid_phone",
        "email": "invalid_email",
        "utm_source": "not_text",
    }


def test_a_phone_or_an_email_is_required() -> None:
    with pytest.raises(forms.FormInvalid) as err:
        forms.read_submission({"name": "Anna", "comment": "hello"})
    assert err.value.errors == {"phone": "required", "email": "required"}


def test_fields_read_through_the_schema() -> None:
    sub = forms.read_submission(
        {"name": " Anna ", "company": "Acme", "phone": "+7 999 123-45-67", "utm_source": "google", "x": "1"},
        region="RU",
    )
    assert sub.fields == {"name": "Anna", "company_title": "Acme"}
    assert sub.phones == ["+79991234567"]
    assert sub.utm == {"utm_source": "google"}


async def test_submission_makes_a_lead_for_the_responsible_who_is_told(session: AsyncSession) -> None:
    admin = await make_admin(session)
    seller = await make_user(session)
    form = await forms.create_form(session, admin, "Site", responsible_id=seller.id)
    sub = forms.read_submission({"name": "Anna", "email": "anna@example.com", "utm_campaign": "spring"})
    lead = await forms.submit(session, form, sub, address="10.0.0.1")
    assert lead.responsible_id == seller.id
    assert lead.title == "Site: Anna" and lead.source == forms.DEFAULT_SOURCE
    assert lead.is_return_customer is False
    tagged = await session.scalar(select(FormSubmission).where(FormSubmission.lead_id == lead.id))
    assert tagged is not None and tagged.form_id == form.id and tagged.utm == {"utm_campaign": "spring"}
    told = list(await session.scalars(select(Notification).where(Notification.user_id == seller.id)))
    assert [(n.category, n.payload["owner_id"]) for n in told] == [
        (NotificationCategory.LEAD_ASSIGNED, lead.id)
    ]


async def test_known_phone_makes_a_repeat_lead(session: AsyncSession) -> None:
    admin = await make_admin(session)
    await make_contact(session, admin, name="Olga", phones=["+79990001122"])
    form = await forms.create_form(session, admin, "Site")
    lead = await forms.submit(session, form, forms.read_submission({"phone": "+7 999 000-11-22"}))
    assert lead.is_return_customer is True and lead.contact_id is not None


async def test_only_admins_manage_keys_and_revoked_keys_stop(session: AsyncSession) -> None:
    admin = await make_admin(session)
    seller = await make_user(session)
    with pytest.raises(AccessDenied):
        await forms.create_form(session, seller, "Mine")
    form = await forms.create_form(session, admin, "Site")
    assert form.responsible_id == admin.id and len(form.key) >= 24
    assert await forms.active_form(session, form.key) is form
    with pytest.raises(AccessDenied):
        await forms.revoke_form(session, seller, form.id)
    await forms.revoke_form(session, admin, form.id)
    assert await forms.active_form(session, form.key) is None
    assert await forms.list_forms(session, admin) == []
    with pytest.raises(NotFound):
        await forms.revoke_form(session, admin, form.id)


def test_address_limiter_is_a_sliding_minute() -> None:
    now = [0.0]
    limiter = forms.AddressLimiter(2, clock=lambda: now[0])
    assert limiter.check("a") is None and limiter.check("a") is None
    assert limiter.check("a") == pytest.approx(60)
    assert limiter.check("b") is None
    now[0] = 30
    assert limiter.check("a") == pytest.approx(30)
    now[0] = 60.5
    assert limiter.check("a") is None


async def test_a_routed_form_gives_its_leads_by_the_client_routing_rule(session: AsyncSession) -> None:
    from crm_core.models.clients import RoutingRule
    from crm_core.services import routing

    admin = await make_admin(session)
    a, b = await make_user(session), await make_user(session)
    await routing.set_on_duty(session, a, True)
    await routing.set_on_duty(session, b, True)
    form = await forms.create_form(session, admin, "Site", routed=True)
    assert form.responsible_id is None
    leads = [
        await forms.submit(session, form, forms.read_submission({"email": f"c{n}@example.com"}))
        for n in range(3)
    ]
    # Round robin among the people on duty, as for clients who write to the bot.
    assert [lead.responsible_id for lead in leads] == [a.id, b.id, a.id]
    await routing.set_rule(session, admin, RoutingRule.FIXED, fixed_user_id=b.id)
    lead = await forms.submit(session, form, forms.read_submission({"email": "d@example.com"}))
    assert lead.responsible_id == b.id


async def test_a_form_whose_responsible_left_falls_back_to_the_routing_rule(session: AsyncSession) -> None:
    admin = await make_admin(session)
    seller = await make_user(session)
    form = await forms.create_form(session, admin, "Site", responsible_id=seller.id)
    seller.is_active = False
    lead = await forms.submit(session, form, forms.read_submission({"email": "e@example.com"}))
    # Nobody on duty: the rule falls back to an admin; a lead is never left without a responsible.
    assert lead.responsible_id == admin.id
