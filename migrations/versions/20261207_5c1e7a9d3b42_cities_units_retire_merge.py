"""cities: province and time zone; units: retired_on and merged_into_id

Existing cities get the default time zone (Asia/Shanghai); every existing unit is active.

Revision ID: 5c1e7a9d3b42
Revises: 0285555566f4
Create Date: 2026-12-07 02:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5c1e7a9d3b42'
down_revision = '0285555566f4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('province', sa.String(), nullable=True))
        batch_op.add_column(
            sa.Column('timezone', sa.String(), server_default='Asia/Shanghai', nullable=False)
        )
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retired_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_units_merged_into_id_units'), 'units', ['merged_into_id'], ['id']
        )


def downgrade():
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_units_merged_into_id_units'), type_='foreignkey')
        batch_op.drop_column('merged_into_id')
        batch_op.drop_column('retired_on')
    with op.batch_alter_table('cities', schema=None) as batch_op:
        batch_op.drop_column('timezone')
        batch_op.drop_column('province')
