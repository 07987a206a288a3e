"""progress_reports.is_closing: 办结报告, whose acceptance is the office's 销号

Revision ID: d4e1c7a9b2f0
Revises: a7d4e1f2b9c3
Create Date: 2026-12-07 10:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd4e1c7a9b2f0'
down_revision = "a7d4e1f2b9c3"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('progress_reports', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('is_closing', sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade():
    with op.batch_alter_table('progress_reports', schema=None) as batch_op:
        batch_op.drop_column('is_closing')
