"""reporting_cadences: a plan's reporting cadence (报送周期), overridden per section

Revision ID: 5c2e8a4f9d13
Revises: 5e2b8c4d9f13
Create Date: 2026-12-07 09:10:00.000000

"""
from alembic import op
import sqlalchemy as sa

import taskhub.core.db  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = '5c2e8a4f9d13'
down_revision = "5e2b8c4d9f13"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'reporting_cadences',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('section_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(), nullable=False),
        sa.Column('day', sa.Integer(), nullable=True),
        sa.Column('starts_on', sa.Date(), nullable=True),
        sa.Column('is_shifted_to_working_day', sa.Boolean(), nullable=False),
        sa.Column('remind_days_before', sa.Integer(), nullable=False),
        sa.Column('created_at', taskhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', taskhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('none', 'monthly', 'weekly')",
            name=op.f('ck_reporting_cadences_kind_valid'),
        ),
        sa.CheckConstraint(
            "(kind = 'none') OR (kind = 'monthly' AND day BETWEEN 1 AND 31) "
            "OR (kind = 'weekly' AND day BETWEEN 0 AND 6)",
            name=op.f('ck_reporting_cadences_day_valid'),
        ),
        sa.CheckConstraint(
            'remind_days_before >= 0', name=op.f('ck_reporting_cadences_remind_non_negative')
        ),
        sa.ForeignKeyConstraint(
            ['plan_id'], ['plans.id'], name=op.f('fk_reporting_cadences_plan_id_plans'),
            ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['section_id'], ['sections.id'],
            name=op.f('fk_reporting_cadences_section_id_sections'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reporting_cadences')),
        sa.UniqueConstraint('section_id', name=op.f('uq_reporting_cadences_section_id')),
    )
    op.create_index(
        op.f('ix_reporting_cadences_plan_id'), 'reporting_cadences', ['plan_id'], unique=False
    )
    op.create_index(
        'uq_reporting_cadences_plan_id',
        'reporting_cadences',
        ['plan_id'],
        unique=True,
        sqlite_where=sa.text('section_id IS NULL'),
        postgresql_where=sa.text('section_id IS NULL'),
    )


def downgrade():
    op.drop_index('uq_reporting_cadences_plan_id', table_name='reporting_cadences')
    op.drop_index(op.f('ix_reporting_cadences_plan_id'), table_name='reporting_cadences')
    op.drop_table('reporting_cadences')
