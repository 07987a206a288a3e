"""api: api_tokens, webhook_endpoints, login_attempts; outbox channel 'hook'

The JSON API authenticates with per-user tokens (stored as SHA-256 digests); admins register
webhook endpoints whose signed event messages go through the outbox (new channel 'hook');
sign-in attempts are recorded so every worker throttles password guessing alike.

Revision ID: e7b2c4d91f3a
Revises: a3e1f07c52b9
Create Date: 2026-11-25 19:40:00.000000

"""
from alembic import op
import sqlalchemy as sa
import taskhub.core.db  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = 'e7b2c4d91f3a'
down_revision = 'a3e1f07c52b9'
branch_labels = None
depends_on = None

OLD_CHANNELS = "channel IN ('email', 'webhook', 'in_app')"
NEW_CHANNELS = "channel IN ('email', 'webhook', 'in_app', 'hook')"


def upgrade():
    op.create_table(
        'api_tokens',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(), nullable=False),
        sa.Column('token_hash', sa.String(), nullable=False),
        sa.Column('prefix', sa.String(), nullable=False),
        sa.Column('created_at', taskhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_used_at', taskhub.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('expires_at', taskhub.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', taskhub.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash')),
    )
    op.create_index(op.f('ix_api_tokens_user_id'), 'api_tokens', ['user_id'], unique=False)
    op.create_table(
        'login_attempts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('username', sa.String(), nullable=False),
        sa.Column('address', sa.String(), nullable=False),
        sa.Column('succeeded', sa.Boolean(), nullable=False),
        sa.Column('occurred_at', taskhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_login_attempts')),
    )
    op.create_index('ix_login_attempts_username_at', 'login_attempts', ['username', 'occurred_at'])
    op.create_index('ix_login_attempts_address_at', 'login_attempts', ['address', 'occurred_at'])
    op.create_table(
        'webhook_endpoints',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('url', sa.String(), nullable=False),
        sa.Column('description', sa.String(), nullable=False),
        sa.Column('secret', sa.String(), nullable=False),
        sa.Column('events', sa.JSON(), nullable=False),
        sa.Column('is_enabled', sa.Boolean(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', taskhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['created_by_id'], ['users.id'], name=op.f('fk_webhook_endpoints_created_by_id_users')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoints')),
    )
    with op.batch_alter_table('outbox_messages') as batch_op:
        batch_op.drop_constraint(op.f('ck_outbox_messages_channel_valid'), type_='check')
        batch_op.create_check_constraint('channel_valid', NEW_CHANNELS)


def downgrade():
    with op.batch_alter_table('outbox_messages') as batch_op:
        batch_op.drop_constraint(op.f('ck_outbox_messages_channel_valid'), type_='check')
        batch_op.create_check_constraint('channel_valid', OLD_CHANNELS)
    op.drop_table('webhook_endpoints')
    op.drop_index('ix_login_attempts_address_at', table_name='login_attempts')
    op.drop_index('ix_login_attempts_username_at', table_name='login_attempts')
    op.drop_table('login_attempts')
    op.drop_index(op.f('ix_api_tokens_user_id'), table_name='api_tokens')
    op.drop_table('api_tokens')
