"""Reporting cadence (定期报送): every open task reports on a fixed rhythm; 报送率 per unit."""
