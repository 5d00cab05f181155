"""Fakes that subclass RefNet's ports and keep their state in memory, for unit tests."""
