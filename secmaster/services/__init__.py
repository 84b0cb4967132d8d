"""Writes to the security master: one module per concern (presets, ingestion, coverage)."""
