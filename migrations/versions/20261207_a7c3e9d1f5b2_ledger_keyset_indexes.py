"""assignments (unit_id, id), (percent, id), (next_due_on, id) and units (name, id): the
ledger page's keyset paging by unit, progress and next due date reads one page from an index
at any depth (issue 17)

Revision ID: a7c3e9d1f5b2
Revises: f3a9c2d4b6e1
Create Date: 2026-12-07 16:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a7c3e9d1f5b2'
down_revision = 'f3a9c2d4b6e1'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.create_index('ix_units_name_id', ['name', 'id'], unique=False)
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.create_index('ix_assignments_unit_id_id', ['unit_id', 'id'], unique=False)
        batch_op.create_index('ix_assignments_percent_id', ['percent', 'id'], unique=False)
        batch_op.create_index('ix_assignments_next_due_on_id', ['next_due_on', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index('ix_assignments_next_due_on_id')
        batch_op.drop_index('ix_assignments_percent_id')
        batch_op.drop_index('ix_assignments_unit_id_id')
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.drop_index('ix_units_name_id')
