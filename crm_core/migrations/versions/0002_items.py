# ruff: noqa: E501
"""items: leads, deals, contacts, companies, pipelines/stages (seeded), observers, phones/emails,
stage history, required fields, timeline

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "communications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "owner_type",
            sa.Enum("lead", "deal", "contact", "company", name="item_type", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind", sa.Enum("phone", "email", name="comm_kind", native_enum=False, length=8), nullable=False
        ),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("normalized", sa.String(length=255), nullable=False),
        sa.Column(
            "value_type",
            sa.Enum("work", "mobile", "home", "other", name="comm_value_type", native_enum=False, length=8),
            nullable=False,
        ),
        sa.Column("sort", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_communications")),
    )
    with op.batch_alter_table("communications", schema=None) as batch_op:
        batch_op.create_index("ix_communications_lookup", ["kind", "normalized"], unique=False)
        batch_op.create_index("ix_communications_owner", ["owner_type", "owner_id"], unique=False)

    op.create_table(
        "pipelines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "entity_type",
            sa.Enum("lead", "deal", "contact", "company", name="item_type", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("name_ru", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("sort", sa.Integer(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipelines")),
    )
    with op.batch_alter_table("pipelines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pipelines_entity_type"), ["entity_type"], unique=False)

    op.create_table(
        "required_fields",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "item_type",
            sa.Enum("lead", "deal", "contact", "company", name="item_type", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("pipeline_id", sa.Integer(), nullable=True),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_required_fields_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_required_fields")),
        sa.UniqueConstraint("item_type", "pipeline_id", "field", name="uq_required_fields_key"),
    )
    op.create_table(
        "stages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("name_ru", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("sort", sa.Integer(), nullable=False),
        sa.Column("color", sa.String(length=16), nullable=False),
        sa.Column(
            "semantics",
            sa.Enum("process", "success", "failure", name="stage_semantics", native_enum=False, length=16),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_stages_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stages")),
    )
    with op.batch_alter_table("stages", schema=None) as batch_op:
        batch_op.create_index("ix_stages_pipeline_sort", ["pipeline_id", "sort"], unique=False)

    op.create_table(
        "item_observers",
        sa.Column(
            "owner_type",
            sa.Enum("lead", "deal", "contact", "company", name="item_type", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("owner_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_item_observers_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("owner_type", "owner_id", "user_id", name=op.f("pk_item_observers")),
    )
    with op.batch_alter_table("item_observers", schema=None) as batch_op:
        batch_op.create_index("ix_item_observers_user", ["user_id", "owner_type", "owner_id"], unique=False)

    op.create_table(
        "leads",
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("second_name", sa.String(length=100), nullable=True),
        sa.Column("last_name", sa.String(length=100), nullable=True),
        sa.Column("company_title", sa.String(length=255), nullable=True),
        sa.Column("position", sa.String(length=255), nullable=True),
        sa.Column("is_return_customer", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=50), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("responsible_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("deleted_by_id", sa.Integer(), nullable=True),
        sa.Column("stage_entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("won", sa.Boolean(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("focused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_leads_company_id_companies"),
            ondelete="SET NULL",
            use_alter=True,
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_leads_contact_id_contacts"),
            ondelete="SET NULL",
            use_alter=True,
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_leads_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["deleted_by_id"], ["users.id"], name=op.f("fk_leads_deleted_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["pipeline_id"], ["pipelines.id"], name=op.f("fk_leads_pipeline_id_pipelines")
        ),
        sa.ForeignKeyConstraint(["responsible_id"], ["users.id"], name=op.f("fk_leads_responsible_id_users")),
        sa.ForeignKeyConstraint(["stage_id"], ["stages.id"], name=op.f("fk_leads_stage_id_stages")),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["users.id"], name=op.f("fk_leads_updated_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
    )
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index("ix_leads_board", ["pipeline_id", "stage_id", "deleted_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_leads_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_leads_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_leads_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_leads_deleted_at"), ["deleted_at"], unique=False)
        batch_op.create_index("ix_leads_focus", ["stage_id", "focused_at", "last_activity_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_leads_responsible_id"), ["responsible_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_leads_stage_id"), ["stage_id"], unique=False)

    op.create_table(
        "stage_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "owner_type",
            sa.Enum("lead", "deal", "contact", "company", name="item_type", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("by_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["by_user_id"], ["users.id"], name=op.f("fk_stage_history_by_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_stage_history_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["stage_id"], ["stages.id"], name=op.f("fk_stage_history_stage_id_stages"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_history")),
    )
    with op.batch_alter_table("stage_history", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stage_history_owner", ["owner_type", "owner_id", "entered_at"], unique=False
        )
        batch_op.create_index("ix_stage_history_stage", ["stage_id", "entered_at"], unique=False)

    op.create_table(
        "timeline_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "owner_type",
            sa.Enum("lead", "deal", "contact", "company", name="item_type", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column(
            "event_type",
            sa.Enum(
                "created",
                "stage_changed",
                "field_changed",
                "responsible_changed",
                "observer_added",
                "observer_removed",
                "link_added",
                "link_removed",
                "converted",
                "deleted",
                "restored",
                "activity_created",
                "activity_changed",
                "activity_completed",
                "comment_added",
                "comment_edited",
                "comment_deleted",
                "task_created",
                "task_status_changed",
                "task_deadline_changed",
                "message_in",
                "message_out",
                "file_attached",
                name="timeline_event_type",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("pinned_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_timeline_events_author_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timeline_events")),
    )
    with op.batch_alter_table("timeline_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_timeline_events_author_id"), ["author_id"], unique=False)
        batch_op.create_index(
            "ix_timeline_events_owner", ["owner_type", "owner_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_timeline_events_pinned", ["owner_type", "owner_id", "pinned"], unique=False)

    op.create_table(
        "companies",
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("industry", sa.String(length=100), nullable=True),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=50), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("responsible_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("deleted_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_companies_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deleted_by_id"],
            ["users.id"],
            name=op.f("fk_companies_deleted_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_companies_lead_id_leads"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["responsible_id"], ["users.id"], name=op.f("fk_companies_responsible_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["users.id"],
            name=op.f("fk_companies_updated_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_companies")),
    )
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_companies_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_companies_deleted_at"), ["deleted_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_companies_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_companies_responsible_id"), ["responsible_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_companies_title"), ["title"], unique=False)

    op.create_table(
        "contacts",
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("second_name", sa.String(length=100), nullable=True),
        sa.Column("last_name", sa.String(length=100), nullable=True),
        sa.Column("position", sa.String(length=255), nullable=True),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=50), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("responsible_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("deleted_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_contacts_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["deleted_by_id"], ["users.id"], name=op.f("fk_contacts_deleted_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_contacts_lead_id_leads"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["responsible_id"], ["users.id"], name=op.f("fk_contacts_responsible_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["users.id"], name=op.f("fk_contacts_updated_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contacts_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_contacts_deleted_at"), ["deleted_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_contacts_last_name"), ["last_name"], unique=False)
        batch_op.create_index(batch_op.f("ix_contacts_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contacts_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_contacts_responsible_id"), ["responsible_id"], unique=False)

    op.create_table(
        "contact_companies",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_contact_companies_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_companies_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", "company_id", name=op.f("pk_contact_companies")),
    )
    with op.batch_alter_table("contact_companies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_companies_company_id"), ["company_id"], unique=False)

    op.create_table(
        "deals",
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("begin_date", sa.Date(), nullable=True),
        sa.Column("close_date", sa.Date(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=50), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("responsible_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("deleted_by_id", sa.Integer(), nullable=True),
        sa.Column("stage_entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("won", sa.Boolean(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("focused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_deals_company_id_companies"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_deals_contact_id_contacts"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_deals_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["deleted_by_id"], ["users.id"], name=op.f("fk_deals_deleted_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_deals_lead_id_leads"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["pipeline_id"], ["pipelines.id"], name=op.f("fk_deals_pipeline_id_pipelines")
        ),
        sa.ForeignKeyConstraint(["responsible_id"], ["users.id"], name=op.f("fk_deals_responsible_id_users")),
        sa.ForeignKeyConstraint(["stage_id"], ["stages.id"], name=op.f("fk_deals_stage_id_stages")),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["users.id"], name=op.f("fk_deals_updated_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deals")),
    )
    if op.get_bind().dialect.name != "sqlite":
        # leads <-> contacts/companies reference each other (use_alter): add the lead side now.
        op.create_foreign_key(
            op.f("fk_leads_contact_id_contacts"),
            "leads",
            "contacts",
            ["contact_id"],
            ["id"],
            ondelete="SET NULL",
        )
        op.create_foreign_key(
            op.f("fk_leads_company_id_companies"),
            "leads",
            "companies",
            ["company_id"],
            ["id"],
            ondelete="SET NULL",
        )
    _seed()

    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.create_index("ix_deals_board", ["pipeline_id", "stage_id", "deleted_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_deals_close_date"), ["close_date"], unique=False)
        batch_op.create_index(batch_op.f("ix_deals_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_deals_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_deals_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_deals_deleted_at"), ["deleted_at"], unique=False)
        batch_op.create_index("ix_deals_focus", ["stage_id", "focused_at", "last_activity_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_deals_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_deals_responsible_id"), ["responsible_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_deals_stage_id"), ["stage_id"], unique=False)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f("fk_leads_contact_id_contacts"), "leads", type_="foreignkey")
        op.drop_constraint(op.f("fk_leads_company_id_companies"), "leads", type_="foreignkey")
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deals_stage_id"))
        batch_op.drop_index(batch_op.f("ix_deals_responsible_id"))
        batch_op.drop_index(batch_op.f("ix_deals_lead_id"))
        batch_op.drop_index("ix_deals_focus")
        batch_op.drop_index(batch_op.f("ix_deals_deleted_at"))
        batch_op.drop_index(batch_op.f("ix_deals_created_at"))
        batch_op.drop_index(batch_op.f("ix_deals_contact_id"))
        batch_op.drop_index(batch_op.f("ix_deals_company_id"))
        batch_op.drop_index(batch_op.f("ix_deals_close_date"))
        batch_op.drop_index("ix_deals_board")

    op.drop_table("deals")
    with op.batch_alter_table("contact_companies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_companies_company_id"))

    op.drop_table("contact_companies")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_responsible_id"))
        batch_op.drop_index(batch_op.f("ix_contacts_name"))
        batch_op.drop_index(batch_op.f("ix_contacts_lead_id"))
        batch_op.drop_index(batch_op.f("ix_contacts_last_name"))
        batch_op.drop_index(batch_op.f("ix_contacts_deleted_at"))
        batch_op.drop_index(batch_op.f("ix_contacts_created_at"))

    op.drop_table("contacts")
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_companies_title"))
        batch_op.drop_index(batch_op.f("ix_companies_responsible_id"))
        batch_op.drop_index(batch_op.f("ix_companies_lead_id"))
        batch_op.drop_index(batch_op.f("ix_companies_deleted_at"))
        batch_op.drop_index(batch_op.f("ix_companies_created_at"))

    op.drop_table("companies")
    with op.batch_alter_table("timeline_events", schema=None) as batch_op:
        batch_op.drop_index("ix_timeline_events_pinned")
        batch_op.drop_index("ix_timeline_events_owner")
        batch_op.drop_index(batch_op.f("ix_timeline_events_author_id"))

    op.drop_table("timeline_events")
    with op.batch_alter_table("stage_history", schema=None) as batch_op:
        batch_op.drop_index("ix_stage_history_stage")
        batch_op.drop_index("ix_stage_history_owner")

    op.drop_table("stage_history")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leads_stage_id"))
        batch_op.drop_index(batch_op.f("ix_leads_responsible_id"))
        batch_op.drop_index("ix_leads_focus")
        batch_op.drop_index(batch_op.f("ix_leads_deleted_at"))
        batch_op.drop_index(batch_op.f("ix_leads_created_at"))
        batch_op.drop_index(batch_op.f("ix_leads_contact_id"))
        batch_op.drop_index(batch_op.f("ix_leads_company_id"))
        batch_op.drop_index("ix_leads_board")

    op.drop_table("leads")
    with op.batch_alter_table("item_observers", schema=None) as batch_op:
        batch_op.drop_index("ix_item_observers_user")

    op.drop_table("item_observers")
    with op.batch_alter_table("stages", schema=None) as batch_op:
        batch_op.drop_index("ix_stages_pipeline_sort")

    op.drop_table("stages")
    op.drop_table("required_fields")
    with op.batch_alter_table("pipelines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipelines_entity_type"))

    op.drop_table("pipelines")
    with op.batch_alter_table("communications", schema=None) as batch_op:
        batch_op.drop_index("ix_communications_owner")
        batch_op.drop_index("ix_communications_lookup")

    op.drop_table("communications")


LEAD_STAGES = [
    # code, en, ru, semantics, colour
    ("NEW", "New", "Новый", "process", "#39A8EF"),
    ("IN_PROCESS", "In progress", "В работе", "process", "#2FC6F6"),
    ("PROCESSED", "Processed", "Обработан", "process", "#55D0E0"),
    ("CONVERTED", "Quality lead", "Качественный лид", "success", "#7BD500"),
    ("JUNK", "Poor lead", "Некачественный лид", "failure", "#FF5752"),
]
DEAL_STAGES = [
    ("NEW", "New", "Новая", "process", "#39A8EF"),
    ("PREPARATION", "Preparing documents", "Подготовка документов", "process", "#2FC6F6"),
    ("PREPAYMENT_INVOICE", "Prepayment invoice", "Счёт на предоплату", "process", "#55D0E0"),
    ("EXECUTING", "In progress", "В работе", "process", "#47E4C2"),
    ("FINAL_INVOICE", "Final invoice", "Финальный счёт", "process", "#FFA900"),
    ("WON", "Won", "Сделка успешна", "success", "#7BD500"),
    ("LOSE", "Lost", "Сделка провалена", "failure", "#FF5752"),
    ("APOLOGY", "Analyze failure", "Анализ причины провала", "failure", "#FF5752"),
]


def _seed() -> None:
    """The default lead pipeline and the "General" deal pipeline with Bitrix24's default stages."""
    bind = op.get_bind()
    pipelines = sa.table(
        "pipelines",
        sa.column("id", sa.Integer),
        sa.column("entity_type", sa.String),
        sa.column("name_ru", sa.String),
        sa.column("name_en", sa.String),
        sa.column("sort", sa.Integer),
        sa.column("is_default", sa.Boolean),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    stages = sa.table(
        "stages",
        sa.column("pipeline_id", sa.Integer),
        sa.column("code", sa.String),
        sa.column("name_ru", sa.String),
        sa.column("name_en", sa.String),
        sa.column("sort", sa.Integer),
        sa.column("color", sa.String),
        sa.column("semantics", sa.String),
    )
    now = datetime.now(UTC)
    if bind.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # as UTCDateTime stores it there
    for entity_type, name_en, name_ru, rows in (
        ("lead", "Leads", "Лиды", LEAD_STAGES),
        ("deal", "General", "Общая", DEAL_STAGES),
    ):
        bind.execute(
            pipelines.insert().values(
                entity_type=entity_type,
                name_en=name_en,
                name_ru=name_ru,
                sort=100,
                is_default=True,
                created_at=now,
            )
        )
        pipeline_id = bind.execute(
            sa.select(pipelines.c.id).where(pipelines.c.entity_type == entity_type)
        ).scalar_one()
        bind.execute(
            stages.insert(),
            [
                dict(
                    pipeline_id=pipeline_id,
                    code=code,
                    name_en=en,
                    name_ru=ru,
                    sort=(i + 1) * 10,
                    color=color,
                    semantics=semantics,
                )
                for i, (code, en, ru, semantics, color) in enumerate(rows)
            ],
        )
