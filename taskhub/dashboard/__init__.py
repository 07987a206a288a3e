"""Dashboards for the office and leaders: completion, overdue and at-risk counts, rankings."""
