"""kopf wiring for the placement controller (filled in by its capability)."""
