"""Schemes, periods, scores and frozen snapshots."""
