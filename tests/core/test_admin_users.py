import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import AccessDenied, NotFound, ValidationFailed
from crm_core.models import Role
from crm_core.services import users as svc
from tests.core.factories import make_admin, make_user


async def test_last_admin_cannot_demote_or_deactivate_themselves(session: AsyncSession) -> None:
    admin = await make_admin(session)
    with pytest.raises(svc.LastAdmin):
        await svc.set_role(session, admin, admin.id, Role.HEAD)
    with pytest.raises(svc.LastAdmin):
        await svc.deactivate_user(session, admin, admin.id)
    assert admin.role == Role.ADMIN and admin.is_active
    # With a second active admin, either may step down.
    other = await make_admin(session)
    await svc.set_role(session, admin, admin.id, Role.SALESPERSON)
    assert admin.role == Role.SALESPERSON
    with pytest.raises(svc.LastAdmin):
        await svc.deactivate_user(session, other, other.id)


async def test_an_inactive_admin_does_not_count(session: AsyncSession) -> None:
    admin = await make_admin(session)
    sleeping = await make_admin(session, is_active=False)
    with pytest.raises(svc.LastAdmin):
        await svc.set_role(session, admin, admin.id, Role.HEAD)
    await svc.reactivate_user(session, admin, sleeping.id)
    await svc.deactivate_user(session, admin, admin.id)
    assert not admin.is_active


async def test_role_department_and_access_changes(session: AsyncSession) -> None:
    admin = await make_admin(session)
    sales = await make_user(session)
    dept = await svc.create_department(session, admin, "  North   sales ")
    assert dept.name == "North sales"
    assert (await svc.create_department(session, admin, "north SALES")).id == dept.id
    await svc.set_department(session, admin, sales.id, dept.id)
    await svc.set_role(session, admin, sales.id, "head")
    assert sales.role == Role.HEAD and sales.department_id == dept.id
    await svc.set_department(session, admin, sales.id, None)
    assert sales.department_id is None
    with pytest.raises(NotFound):
        await svc.set_department(session, admin, sales.id, 999_999)
    with pytest.raises(ValidationFailed):
        await svc.set_role(session, admin, sales.id, "king")
    with pytest.raises(ValidationFailed):
        await svc.create_department(session, admin, "   ")
    await svc.deactivate_user(session, admin, sales.id)
    assert not sales.is_active
    await svc.reactivate_user(session, admin, sales.id)
    assert sales.is_active


async def test_only_admins_manage_users(session: AsyncSession) -> None:
    await make_admin(session)
    head = await make_user(session, Role.HEAD)
    sales = await make_user(session)
    for call in (
        svc.set_role(session, head, sales.id, Role.ADMIN),
        svc.deactivate_user(session, head, sales.id),
        svc.reactivate_user(session, head, sales.id),
        svc.set_department(session, sales, sales.id, None),
        svc.create_department(session, head, "X"),
        svc.list_users_page(session, head),
    ):
        with pytest.raises(AccessDenied):
            await call
    assert sales.role == Role.SALESPERSON and sales.is_active


async def test_users_page_lists_inactive_last(session: AsyncSession) -> None:
    admin = await make_admin(session, name="Bob")
    await make_user(session, name="Alice", is_active=False)
    await make_user(session, name="Carl")
    page, total = await svc.list_users_page(session, admin, offset=0, limit=2)
    assert total == 3 and [u.full_name for u in page] == ["Bob", "Carl"]
    page, _ = await svc.list_users_page(session, admin, offset=2, limit=2)
    assert [u.full_name for u in page] == ["Alice"]


async def test_digest_preferences(session: AsyncSession) -> None:
    user = await make_user(session)
    svc.set_digest_workdays_only(user, False)
    assert user.digest_workdays_only is False
