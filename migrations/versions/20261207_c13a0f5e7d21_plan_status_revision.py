"""plans: status (draft / published / closed / archived) and revision number

Every plan that exists today has its assignments, so it is published.

Revision ID: c13a0f5e7d21
Revises: b81d4e2a6c90
Create Date: 2026-12-07 02:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c13a0f5e7d21'
down_revision = 'b81d4e2a6c90'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('status', sa.String(), server_default='published', nullable=False)
        )
        batch_op.add_column(sa.Column('revision', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_check_constraint(
            'status_valid', "status IN ('draft', 'published', 'closed', 'archived')"
        )
        batch_op.create_index(batch_op.f('ix_plans_status'), ['status'], unique=False)


def downgrade():
    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plans_status'))
        batch_op.drop_constraint('status_valid', type_='check')
        batch_op.drop_column('revision')
        batch_op.drop_column('status')
