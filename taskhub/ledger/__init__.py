"""The plan ledger (任务台账): every assignment in one filtered, sorted, paged table; timelines."""
