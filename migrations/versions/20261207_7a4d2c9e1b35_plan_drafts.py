"""plan_drafts: draft plans read from documents, checked before the import

Revision ID: 7a4d2c9e1b35
Revises: 5d7e2b9a4c18
Create Date: 2026-12-07 05:40:00.000000

"""
from alembic import op
import sqlalchemy as sa

import taskhub.core.db  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = '7a4d2c9e1b35'
down_revision = '5d7e2b9a4c18'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'plan_drafts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('city_id', sa.Integer(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', taskhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', taskhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(), nullable=False),
        sa.Column('name', sa.String(), nullable=False),
        sa.Column('format', sa.String(), nullable=False),
        sa.Column('source_text', sa.String(), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('plan_id', sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'confirmed', 'discarded')",
            name=op.f('ck_plan_drafts_status_valid'),
        ),
        sa.ForeignKeyConstraint(
            ['city_id'], ['cities.id'], name=op.f('fk_plan_drafts_city_id_cities')
        ),
        sa.ForeignKeyConstraint(
            ['created_by_id'], ['users.id'], name=op.f('fk_plan_drafts_created_by_id_users')
        ),
        sa.ForeignKeyConstraint(
            ['plan_id'], ['plans.id'], name=op.f('fk_plan_drafts_plan_id_plans'),
            ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_drafts')),
    )
    with op.batch_alter_table('plan_drafts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_drafts_city_id'), ['city_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_plan_drafts_status'), ['status'], unique=False)


def downgrade():
    with op.batch_alter_table('plan_drafts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_drafts_status'))
        batch_op.drop_index(batch_op.f('ix_plan_drafts_city_id'))
    op.drop_table('plan_drafts')
