"""The supervision loop's escalation notices (督办单): levels as data, numbered notices, answers."""
