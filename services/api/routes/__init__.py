"""RefNet."""
