"""The outcome rules as a pure fold: facts in, row changes out, no I/O.

The live worker, every replay and the rebuild use these same functions, so the
rules exist once.
"""
