"""handover_requests: a unit's 退回 request and the office's 转办 decision

Revision ID: a7d4e1f2b9c3
Revises: cec2b9ae7341
Create Date: 2026-12-07 10:30:00.000000

"""
from alembic import op
import sqlalchemy as sa
import taskhub.core.db  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = 'a7d4e1f2b9c3'
down_revision = 'cec2b9ae7341'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('handover_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('from_unit_id', sa.Integer(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=False),
    sa.Column('requested_at', taskhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(), nullable=False),
    sa.Column('state', sa.String(), nullable=False),
    sa.Column('to_unit_id', sa.Integer(), nullable=True),
    sa.Column('restart_days', sa.Integer(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', taskhub.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('note', sa.String(), nullable=True),
    sa.CheckConstraint("state IN ('pending', 'reassigned', 'rejected')", name=op.f('ck_handover_requests_state_valid')),
    sa.ForeignKeyConstraint(['assignment_id'], ['assignments.id'], name=op.f('fk_handover_requests_assignment_id_assignments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_handover_requests_decided_by_id_users')),
    sa.ForeignKeyConstraint(['from_unit_id'], ['units.id'], name=op.f('fk_handover_requests_from_unit_id_units')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_handover_requests_requested_by_id_users')),
    sa.ForeignKeyConstraint(['to_unit_id'], ['units.id'], name=op.f('fk_handover_requests_to_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handover_requests'))
    )
    with op.batch_alter_table('handover_requests', schema=None) as batch_op:
        batch_op.create_index('ix_handover_requests_state', ['state'], unique=False)
        batch_op.create_index('uq_handover_requests_assignment_pending', ['assignment_id'], unique=True, postgresql_where=sa.text("state = 'pending'"), sqlite_where=sa.text("state = 'pending'"))


def downgrade():
    with op.batch_alter_table('handover_requests', schema=None) as batch_op:
        batch_op.drop_index('uq_handover_requests_assignment_pending', postgresql_where=sa.text("state = 'pending'"), sqlite_where=sa.text("state = 'pending'"))
        batch_op.drop_index('ix_handover_requests_state')
    op.drop_table('handover_requests')
