"""Shared plumbing: database base, errors, permissions, time."""
