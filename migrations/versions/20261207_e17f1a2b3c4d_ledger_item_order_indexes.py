"""items (plan_id, position, id) and assignments (item_id, id): the ledger's default order
(plan, item position, id) read in index order, so its first page costs the same on a national
ledger as on a city's (issue 17)

Revision ID: e17f1a2b3c4d
Revises: b5f2e8a1c4d7
Create Date: 2026-12-07 13:35:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e17f1a2b3c4d'
down_revision = 'b5f2e8a1c4d7'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.create_index('ix_items_plan_id_position_id', ['plan_id', 'position', 'id'], unique=False)
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.create_index('ix_assignments_item_id_id', ['item_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index('ix_assignments_item_id_id')
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_index('ix_items_plan_id_position_id')
