"""scoring: period_counts (each assignment's milestones due per period, by outcome), backfilled

The roll-up divides each assignment's points by its own due count in the period. Kept per
period and assignment by the milestone upkeep (taskhub.tracking.models.PeriodCount), the
whole-plan roll-up is one aggregate instead of a per-assignment aggregate over every milestone.

Revision ID: f3c8a1d5b7e2
Revises: e7b2c4d91f3a
Create Date: 2026-11-25 20:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
import taskhub.core.db  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = 'f3c8a1d5b7e2'
down_revision = 'e7b2c4d91f3a'
branch_labels = None
depends_on = None

#: The same rule as taskhub.tracking.models.period_counts_insert, for every existing period.
BACKFILL = """
INSERT INTO period_counts (period_id, assignment_id, unit_id, item_id, due, on_time, late)
SELECT periods.id, assignments.id, assignments.unit_id, assignments.item_id, count(*),
       sum(CASE WHEN milestones.status = 'done' AND NOT milestones.is_late THEN 1 ELSE 0 END),
       sum(CASE WHEN milestones.status = 'done' AND milestones.is_late THEN 1 ELSE 0 END)
FROM assignments
JOIN items ON items.id = assignments.item_id
JOIN periods ON periods.plan_id = items.plan_id
JOIN milestones ON milestones.assignment_id = assignments.id
 AND milestones.due_on >= periods.starts_on AND milestones.due_on <= periods.ends_on
 AND milestones.status <> 'waived'
GROUP BY periods.id, assignments.id, assignments.unit_id, assignments.item_id
"""


def upgrade():
    op.create_table(
        'period_counts',
        sa.Column('period_id', sa.Integer(), nullable=False),
        sa.Column('assignment_id', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('due', sa.Integer(), nullable=False),
        sa.Column('on_time', sa.Integer(), nullable=False),
        sa.Column('late', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['assignment_id'], ['assignments.id'],
            name=op.f('fk_period_counts_assignment_id_assignments'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['period_id'], ['periods.id'],
            name=op.f('fk_period_counts_period_id_periods'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('period_id', 'assignment_id', name=op.f('pk_period_counts')),
    )
    op.create_index('ix_period_counts_assignment_id', 'period_counts', ['assignment_id'])
    op.create_index(
        'ix_period_counts_period_id_item_id', 'period_counts', ['period_id', 'item_id']
    )
    op.execute(BACKFILL)


def downgrade():
    op.drop_index('ix_period_counts_period_id_item_id', table_name='period_counts')
    op.drop_index('ix_period_counts_assignment_id', table_name='period_counts')
    op.drop_table('period_counts')
