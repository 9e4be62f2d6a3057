"""An id no id column can hold names no row: every by-id loader says NotFound, on every backend."""

import pytest

from crm_core.errors import NotFound
from crm_core.models.items import Lead
from crm_core.refs import parse_ref, resolve_ref
from crm_core.services import activities, items, pipelines, tasks
from tests.core.factories import make_admin, make_lead

HUGE = (2**31, 2**63 - 1, 2**63, 10**40)


async def test_loaders_treat_huge_ids_as_missing(session):
    admin = await make_admin(session)
    lead = await make_lead(session, admin, title="Real")
    for big in HUGE:
        with pytest.raises(NotFound):
            await items.get_item(session, admin, "lead", big)
        with pytest.raises(NotFound):
            await resolve_ref(session, admin, f"L-{big}")
        with pytest.raises(NotFound):
            await activities.get_activity(session, admin, big)
        with pytest.raises(NotFound):
            await pipelines.get_pipeline(session, big)
        with pytest.raises(NotFound):
            await tasks.get_task(session, admin, big)
        assert await session.get(Lead, big) is None
    # The largest id a column holds still reaches the database, and real ids still load.
    with pytest.raises(NotFound):
        await items.get_item(session, admin, "lead", 2**31 - 1)
    assert (await items.get_item(session, admin, "lead", lead.id)).title == "Real"


def test_a_ref_of_any_length_is_a_ref():
    assert parse_ref("L-99999999999999999999")[1] == 99999999999999999999
