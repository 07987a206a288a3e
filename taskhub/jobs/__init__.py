"""The scheduler: its database lease and the list of jobs."""
