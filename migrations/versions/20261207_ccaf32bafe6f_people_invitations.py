"""people: invitations, users.mobile and users.has_password, contacts.user_id

An invitation is a one-time link for a new user to set their own password (only the digest of
its secret is stored). Users imported from Excel get a mobile number and start without a
password; a contact of a unit may be one of its users.

Revision ID: ccaf32bafe6f
Revises: 5e1a7c2b9d40
Create Date: 2026-12-07 02:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

import taskhub.core.db  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = 'ccaf32bafe6f'
down_revision = '5e1a7c2b9d40'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mobile', sa.String(), nullable=True))
        batch_op.add_column(
            sa.Column('has_password', sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    op.create_table(
        'invitations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', taskhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', taskhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('emailed_at', taskhub.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('used_at', taskhub.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', taskhub.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ['created_by_id'], ['users.id'], name=op.f('fk_invitations_created_by_id_users')
        ),
        sa.ForeignKeyConstraint(
            ['user_id'], ['users.id'], name=op.f('fk_invitations_user_id_users'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_invitations_token_hash')),
    )
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invitations_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_contacts_user_id'), ['user_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_contacts_user_id_users'), 'users', ['user_id'], ['id'],
            ondelete='SET NULL',
        )


def downgrade():
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_contacts_user_id_users'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_contacts_user_id'))
        batch_op.drop_column('user_id')
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invitations_user_id'))
    op.drop_table('invitations')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('has_password')
        batch_op.drop_column('mobile')
