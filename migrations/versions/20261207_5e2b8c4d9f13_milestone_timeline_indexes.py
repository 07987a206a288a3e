"""milestones: indexes for the timeline's date-ordered pages (due_on, id) and (extended_to, id)

Revision ID: 5e2b8c4d9f13
Revises: 7a3c9e1d5b26
Create Date: 2026-12-07 09:05:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5e2b8c4d9f13'
down_revision = '7a3c9e1d5b26'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('milestones', schema=None) as batch_op:
        batch_op.create_index('ix_milestones_due_on_id', ['due_on', 'id'], unique=False)
        batch_op.create_index(
            'ix_milestones_extended_to_id',
            ['extended_to', 'id'],
            unique=False,
            sqlite_where=sa.text('extended_to IS NOT NULL'),
            postgresql_where=sa.text('extended_to IS NOT NULL'),
        )


def downgrade():
    with op.batch_alter_table('milestones', schema=None) as batch_op:
        batch_op.drop_index('ix_milestones_extended_to_id')
        batch_op.drop_index('ix_milestones_due_on_id')
