"""Privacy duties: erasure and retention, crypto-shredding, access requests, the PII scan."""
