"""kopf wiring for the sla controller (filled in by its capability)."""
