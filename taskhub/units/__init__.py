"""Units (accountable bodies), their aliases, groups and contacts."""
