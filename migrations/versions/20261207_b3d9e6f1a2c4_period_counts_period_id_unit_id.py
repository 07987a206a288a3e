"""period_counts: index (period_id, unit_id) for the live totals' recount of a few units

Revision ID: b3d9e6f1a2c4
Revises: 79fa595940d5
Create Date: 2026-12-07 12:55:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b3d9e6f1a2c4'
down_revision = '79fa595940d5'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('period_counts', schema=None) as batch_op:
        batch_op.create_index(
            'ix_period_counts_period_id_unit_id', ['period_id', 'unit_id'], unique=False
        )


def downgrade():
    with op.batch_alter_table('period_counts', schema=None) as batch_op:
        batch_op.drop_index('ix_period_counts_period_id_unit_id')
