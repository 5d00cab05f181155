"""The HTTP API over the real read model: who may read what, error shapes, and the counts."""
