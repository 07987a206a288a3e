"""leaders' weekly digest settings and instructions (领导批示); a leader's chat robot

Revision ID: b5f2e8a1c4d7
Revises: b3d9e6f1a2c4
Create Date: 2026-12-07 12:40:00.000000

"""
from alembic import op
import sqlalchemy as sa
import taskhub.core.db  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = 'b5f2e8a1c4d7'
down_revision = 'b3d9e6f1a2c4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('leaders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('webhook_url', sa.String(), nullable=True))
    op.create_table('leader_digest_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('city_id', sa.Integer(), nullable=True),
    sa.Column('leader_id', sa.Integer(), nullable=True),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('send_at', sa.Time(), nullable=False),
    sa.Column('channels', sa.JSON(), nullable=False),
    sa.Column('is_enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_at', taskhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(leader_id IS NULL) <> (city_id IS NULL)', name=op.f('ck_leader_digest_settings_one_owner')),
    sa.CheckConstraint('weekday BETWEEN 0 AND 6', name=op.f('ck_leader_digest_settings_weekday_valid')),
    sa.ForeignKeyConstraint(['city_id'], ['cities.id'], name=op.f('fk_leader_digest_settings_city_id_cities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['leader_id'], ['leaders.id'], name=op.f('fk_leader_digest_settings_leader_id_leaders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_leader_digest_settings')),
    sa.UniqueConstraint('city_id', name=op.f('uq_leader_digest_settings_city_id')),
    sa.UniqueConstraint('leader_id', name=op.f('uq_leader_digest_settings_leader_id'))
    )
    op.create_table('leader_instructions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('leader_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.String(), nullable=False),
    sa.Column('instructed_on', sa.Date(), nullable=False),
    sa.Column('answer_due_on', sa.Date(), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', taskhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_leader_instructions_item_id_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['leader_id'], ['leaders.id'], name=op.f('fk_leader_instructions_leader_id_leaders')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_leader_instructions_recorded_by_id_users')),
    sa.ForeignKeyConstraint(['report_id'], ['progress_reports.id'], name=op.f('fk_leader_instructions_report_id_progress_reports'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_leader_instructions'))
    )
    op.create_index('ix_leader_instructions_item_id', 'leader_instructions', ['item_id'], unique=False)
    op.create_index(op.f('ix_leader_instructions_leader_id'), 'leader_instructions', ['leader_id'], unique=False)
    op.create_table('leader_instruction_targets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instruction_id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(), nullable=False),
    sa.Column('answer', sa.String(), nullable=True),
    sa.Column('answered_at', taskhub.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answered_by_id', sa.Integer(), nullable=True),
    sa.Column('is_answered_late', sa.Boolean(), nullable=True),
    sa.CheckConstraint("state IN ('open', 'answered')", name=op.f('ck_leader_instruction_targets_state_valid')),
    sa.ForeignKeyConstraint(['answered_by_id'], ['users.id'], name=op.f('fk_leader_instruction_targets_answered_by_id_users')),
    sa.ForeignKeyConstraint(['assignment_id'], ['assignments.id'], name=op.f('fk_leader_instruction_targets_assignment_id_assignments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['instruction_id'], ['leader_instructions.id'], name=op.f('fk_leader_instruction_targets_instruction_id_leader_instructions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_leader_instruction_targets_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_leader_instruction_targets')),
    sa.UniqueConstraint('instruction_id', 'assignment_id', name=op.f('uq_leader_instruction_targets_instruction_id_assignment_id'))
    )
    op.create_index('ix_leader_instruction_targets_assignment_id', 'leader_instruction_targets', ['assignment_id'], unique=False)
    op.create_index('ix_leader_instruction_targets_unit_id_state', 'leader_instruction_targets', ['unit_id', 'state'], unique=False)


def downgrade():
    op.drop_index('ix_leader_instruction_targets_unit_id_state', table_name='leader_instruction_targets')
    op.drop_index('ix_leader_instruction_targets_assignment_id', table_name='leader_instruction_targets')
    op.drop_table('leader_instruction_targets')
    op.drop_index(op.f('ix_leader_instructions_leader_id'), table_name='leader_instructions')
    op.drop_index('ix_leader_instructions_item_id', table_name='leader_instructions')
    op.drop_table('leader_instructions')
    op.drop_table('leader_digest_settings')
    with op.batch_alter_table('leaders', schema=None) as batch_op:
        batch_op.drop_column('webhook_url')
