"""Use cases: load state through the store, ask the domain, commit one unit of work.

Each use case that writes commits the journal record and its outbox event in one transaction.
"""
