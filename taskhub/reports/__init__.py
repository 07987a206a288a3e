"""Bulletins (通报): a period's results as the coordinating office publishes them."""
