"""Hostile input against the API as a real server: schemathesis, and bodies no client sends."""
