"""Offline reading of the whole log: replay, as-of outcomes, timelines, integrity, rebuild.

For auditors and operators; folds with the same rules as the worker.
"""
