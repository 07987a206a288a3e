"""items: open-ended unit list (等有关单位); item milestones: staged target percent

Revision ID: 5e1a7c2b9d40
Revises: c13a0f5e7d21
Create Date: 2026-12-07 02:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5e1a7c2b9d40'
down_revision = 'c13a0f5e7d21'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('open_units', sa.String(), nullable=True))
    with op.batch_alter_table('item_milestones', schema=None) as batch_op:
        batch_op.add_column(sa.Column('target_percent', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('item_milestones', schema=None) as batch_op:
        batch_op.drop_column('target_percent')
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_column('open_units')
