"""contacts.is_unit_leader: a unit's principal leader (单位主要负责人) among its contacts, who
receives escalation notices of the levels addressed to the unit's leader (issue 16)

Revision ID: f3a9c2d4b6e1
Revises: e17f1a2b3c4d
Create Date: 2026-12-07 14:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f3a9c2d4b6e1'
down_revision = 'e17f1a2b3c4d'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('is_unit_leader', sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade():
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('is_unit_leader')
