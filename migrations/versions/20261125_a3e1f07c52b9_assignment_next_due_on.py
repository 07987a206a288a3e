"""tracking: assignments.next_due_on (earliest open milestone date), backfilled

The ledger filters by traffic light and sorts by next due date; a stored, indexed column
replaces a correlated subquery per row. The application keeps it current on every milestone
change (taskhub.tracking.models.refresh_next_due); this fills it for existing rows.


Revision ID: a3e1f07c52b9
Revises: d5a13eaf98f8
Create Date: 2026-11-25 18:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
import taskhub.core.db  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = 'a3e1f07c52b9'
down_revision = 'd5a13eaf98f8'
branch_labels = None
depends_on = None

#: One statement, the same on SQLite and PostgreSQL (the rule of refresh_next_due); the tests
#: run it too.
BACKFILL = (
    "UPDATE assignments SET next_due_on = ("
    " SELECT min(coalesce(milestones.extended_to, milestones.due_on)) FROM milestones"
    " WHERE milestones.assignment_id = assignments.id AND milestones.status = 'open')"
)


def upgrade():
    # Plain ALTERs, never a batch table copy (see downgrade); the index after the backfill.
    op.add_column('assignments', sa.Column('next_due_on', sa.Date(), nullable=True))
    op.execute(BACKFILL)
    op.create_index(
        'ix_assignments_next_due_on_status_item_id',
        'assignments',
        ['next_due_on', 'status', 'item_id'],
        unique=False,
    )


def downgrade():
    # Not in batch mode: on SQLite that recreates the table, and dropping the old one with
    # foreign keys on would cascade to milestones and reports. SQLite >= 3.35 drops a column.
    op.drop_index('ix_assignments_next_due_on_status_item_id', table_name='assignments')
    op.drop_column('assignments', 'next_due_on')
