"""Excel in: plans and unit contacts from .xlsx templates, previewed and all-or-nothing."""
