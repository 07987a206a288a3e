"""Plans, their sections and items, and the seed loader."""
