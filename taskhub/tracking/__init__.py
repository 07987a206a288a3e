"""Assignments, milestones, progress reports, evidence, reviews and extensions."""
