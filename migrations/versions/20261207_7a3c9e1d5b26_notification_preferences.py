"""notification_preferences: each user's choice of immediate notices (events, channels)

Revision ID: 7a3c9e1d5b26
Revises: 8b3f1d6a2c57
Create Date: 2026-12-07 05:40:00.000000

"""
from alembic import op
import sqlalchemy as sa

import taskhub.core.db  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = '7a3c9e1d5b26'
down_revision = "8b3f1d6a2c57"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'notification_preferences',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('event', sa.String(), nullable=False),
        sa.Column('channel', sa.String(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('updated_at', taskhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "event IN ('report_submitted', 'report_accepted', 'report_returned', "
            "'extension_decided')",
            name=op.f('ck_notification_preferences_event_valid'),
        ),
        sa.CheckConstraint(
            "channel IN ('in_app', 'email')",
            name=op.f('ck_notification_preferences_channel_valid'),
        ),
        sa.ForeignKeyConstraint(
            ['user_id'], ['users.id'], name=op.f('fk_notification_preferences_user_id_users'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint(
            'user_id', 'event', 'channel', name=op.f('pk_notification_preferences')
        ),
    )


def downgrade():
    op.drop_table('notification_preferences')
