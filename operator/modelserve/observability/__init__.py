"""The operator's own metrics (/metrics) and health."""
