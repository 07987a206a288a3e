"""Operations: health and readiness probes, backup and restore."""
