"""The demo network: a reproducible history of the first network, 413 participants, 148 placed."""
