"""JSON Schema of every event type, exported by `refnet schemas export`."""
