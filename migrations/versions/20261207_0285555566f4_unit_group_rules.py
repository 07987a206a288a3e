"""units: a group's membership can be a rule (all units of a kind, optionally under a parent)

Existing groups keep their stored member lists (rule_kind NULL).

Revision ID: 0285555566f4
Revises: ccaf32bafe6f
Create Date: 2026-12-07 02:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0285555566f4'
down_revision = 'ccaf32bafe6f'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('unit_groups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rule_kind', sa.String(), nullable=True))
        batch_op.add_column(sa.Column('rule_parent_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_unit_groups_rule_parent_id_units'), 'units', ['rule_parent_id'], ['id']
        )
        batch_op.create_check_constraint(
            'rule_kind_valid',
            "rule_kind IS NULL OR rule_kind IN "
            "('county', 'township', 'department', 'enterprise', 'other')",
        )
        batch_op.create_check_constraint(
            'rule_parent_has_kind', 'rule_parent_id IS NULL OR rule_kind IS NOT NULL'
        )


def downgrade():
    with op.batch_alter_table('unit_groups', schema=None) as batch_op:
        batch_op.drop_constraint('rule_parent_has_kind', type_='check')
        batch_op.drop_constraint('rule_kind_valid', type_='check')
        batch_op.drop_constraint(
            batch_op.f('fk_unit_groups_rule_parent_id_units'), type_='foreignkey'
        )
        batch_op.drop_column('rule_parent_id')
        batch_op.drop_column('rule_kind')
