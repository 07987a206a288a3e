"""Outgoing event webhooks: admins register endpoints; events go out signed, through the outbox."""
