"""accounts: users.session_generation ends every session of a user at once

A session carries the generation its user had at sign-in; signing out, a disabled account, a
changed or reset password and an admin's "sign out everywhere" raise the user's generation, so
copies of older session cookies stop working on the next request, in every worker.

Revision ID: b81d4e2a6c90
Revises: f3c8a1d5b7e2
Create Date: 2026-12-06 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b81d4e2a6c90'
down_revision = 'f3c8a1d5b7e2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('session_generation', sa.Integer(), server_default='0', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_generation')
