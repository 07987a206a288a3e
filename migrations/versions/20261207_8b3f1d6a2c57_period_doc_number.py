"""periods: the bulletin's document number (文号), set when a period is closed

Revision ID: 8b3f1d6a2c57
Revises: 7a4d2c9e1b35
Create Date: 2026-12-07 05:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8b3f1d6a2c57'
down_revision = "7a4d2c9e1b35"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('periods', schema=None) as batch_op:
        batch_op.add_column(sa.Column('doc_number', sa.String(), nullable=True))


def downgrade():
    with op.batch_alter_table('periods', schema=None) as batch_op:
        batch_op.drop_column('doc_number')
