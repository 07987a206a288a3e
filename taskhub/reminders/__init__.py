"""Reminder rules, the outbox and delivery channels."""
