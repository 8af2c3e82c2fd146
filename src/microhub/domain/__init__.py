"""The pure core: rules for money, tax, catalog, sales, payments and the journal.

Nothing in this package does I/O, reads a clock or draws randomness: callers pass those in.
"""
