"""Versioned SQL migrations of the read model, applied in file-name order."""
