"""plan_revisions: the revision record (修订记录) of a plan

Revision ID: 5d7e2b9a4c18
Revises: 5c1e7a9d3b42
Create Date: 2026-12-07 02:40:00.000000

"""
from alembic import op
import sqlalchemy as sa

import taskhub.core.db  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = '5d7e2b9a4c18'
down_revision = '5c1e7a9d3b42'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'plan_revisions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(), nullable=False),
        sa.Column('reason', sa.String(), nullable=False),
        sa.Column('summary', sa.String(), nullable=False),
        sa.Column('changes', sa.JSON(), nullable=False),
        sa.Column('snapshot', sa.JSON(), nullable=True),
        sa.Column('actor_id', sa.Integer(), nullable=True),
        sa.Column('created_at', taskhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('published', 'revised', 'copied')", name=op.f('ck_plan_revisions_kind_valid')
        ),
        sa.ForeignKeyConstraint(
            ['actor_id'], ['users.id'], name=op.f('fk_plan_revisions_actor_id_users')
        ),
        sa.ForeignKeyConstraint(
            ['plan_id'], ['plans.id'], name=op.f('fk_plan_revisions_plan_id_plans'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_revisions')),
    )
    with op.batch_alter_table('plan_revisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_revisions_plan_id'), ['plan_id'], unique=False)


def downgrade():
    with op.batch_alter_table('plan_revisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_revisions_plan_id'))
    op.drop_table('plan_revisions')
