"""Unit tests: the catalogue, the folds, the outcome rules, the checks; no I/O."""
