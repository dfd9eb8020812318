"""kopf wiring for the predictive controller (filled in by its capability)."""
