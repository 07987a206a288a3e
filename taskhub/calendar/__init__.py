"""China's working-day calendar: official holidays and 调休 plus admin overrides."""
