"""The living demo: a current-year plan of a demo city, worked on as of today."""
