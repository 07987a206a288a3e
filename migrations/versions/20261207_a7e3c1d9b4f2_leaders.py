"""leaders, unit_leaders, item_leaders: the 分管领导 of a city and whom they are responsible for

Revision ID: a7e3c1d9b4f2
Revises: d4e1c7a9b2f0
Create Date: 2026-12-07 10:30:00.000000

"""
from alembic import op
import sqlalchemy as sa
import taskhub.core.db  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = 'a7e3c1d9b4f2'
down_revision = "d4e1c7a9b2f0"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('leaders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('city_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('title', sa.String(), nullable=True),
    sa.Column('portfolio', sa.String(), nullable=True),
    sa.Column('email', sa.String(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', taskhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['city_id'], ['cities.id'], name=op.f('fk_leaders_city_id_cities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_leaders_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_leaders')),
    sa.UniqueConstraint('city_id', 'name', name=op.f('uq_leaders_city_id_name'))
    )
    op.create_index(op.f('ix_leaders_city_id'), 'leaders', ['city_id'], unique=False)
    op.create_table('unit_leaders',
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('leader_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['leader_id'], ['leaders.id'], name=op.f('fk_unit_leaders_leader_id_leaders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_unit_leaders_unit_id_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('unit_id', name=op.f('pk_unit_leaders'))
    )
    op.create_index(op.f('ix_unit_leaders_leader_id'), 'unit_leaders', ['leader_id'], unique=False)
    op.create_table('item_leaders',
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('leader_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_item_leaders_item_id_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['leader_id'], ['leaders.id'], name=op.f('fk_item_leaders_leader_id_leaders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('item_id', name=op.f('pk_item_leaders'))
    )
    op.create_index(op.f('ix_item_leaders_leader_id'), 'item_leaders', ['leader_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_item_leaders_leader_id'), table_name='item_leaders')
    op.drop_table('item_leaders')
    op.drop_index(op.f('ix_unit_leaders_leader_id'), table_name='unit_leaders')
    op.drop_table('unit_leaders')
    op.drop_index(op.f('ix_leaders_city_id'), table_name='leaders')
    op.drop_table('leaders')
