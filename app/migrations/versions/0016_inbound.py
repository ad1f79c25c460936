"""inbound breadth: group messages (their group, and megagroups' own message numbering), edits,
deletions and reactions people make, the groups an instance has seen; the sandbox's edits,
deletions, reactions and mentions

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 07:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.models

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, app.models.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("inbound_message") as batch:
        batch.add_column(
            sa.Column("channel_id", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("group_id", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("group_title", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )
        batch.add_column(_when("edited_at"))
        batch.add_column(_when("deleted_at"))
        batch.drop_constraint("uq_inbound_instance_msg", type_="unique")
        batch.create_unique_constraint(
            "uq_inbound_instance_msg", ["instance", "channel_id", "telegram_message_id"]
        )
    op.create_table(
        "inbound_group",
        sa.Column("instance", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("is_channel", sa.Boolean(), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=True),
        _when("last_message_at"),
        _when("updated_at", nullable=False),
        sa.ForeignKeyConstraint(["instance"], ["instance.number"]),
        sa.PrimaryKeyConstraint("instance", "group_id"),
    )
    op.create_table(
        "inbound_reaction",
        sa.Column("instance", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("telegram_message_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("emojis", sa.Text(), nullable=False),
        _when("reacted_at", nullable=False),
        sa.ForeignKeyConstraint(["instance"], ["instance.number"]),
        sa.PrimaryKeyConstraint("instance", "channel_id", "telegram_message_id", "user_id"),
    )
    op.create_table(
        "message_deletion",
        sa.Column("instance", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("telegram_message_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("direction", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        _when("deleted_at", nullable=False),
        sa.ForeignKeyConstraint(["instance"], ["instance.number"]),
        sa.PrimaryKeyConstraint("instance", "channel_id", "telegram_message_id"),
    )
    with op.batch_alter_table("sandbox_message") as batch:
        batch.add_column(
            sa.Column("mentions_account", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        # edited_at and deleted_at of sandbox messages came with the gateway's own edits (0013).
    with op.batch_alter_table("sandbox_update") as batch:
        batch.add_column(
            sa.Column("emoji", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("sandbox_update") as batch:
        batch.drop_column("emoji")
    with op.batch_alter_table("sandbox_message") as batch:
        batch.drop_column("mentions_account")
    op.drop_table("message_deletion")
    op.drop_table("inbound_reaction")
    op.drop_table("inbound_group")
    with op.batch_alter_table("inbound_message") as batch:
        batch.drop_constraint("uq_inbound_instance_msg", type_="unique")
        batch.create_unique_constraint(
            "uq_inbound_instance_msg", ["instance", "telegram_message_id"]
        )
        batch.drop_column("deleted_at")
        batch.drop_column("edited_at")
        batch.drop_column("group_title")
        batch.drop_column("group_id")
        batch.drop_column("channel_id")
