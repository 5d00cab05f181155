"""Archives of the log: export, verify and restore gzip JSON Lines with a manifest."""
