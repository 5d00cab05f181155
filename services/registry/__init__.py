"""What is not derived from the log: API tokens, signing keys, the record of unused numbers."""
