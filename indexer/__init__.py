"""Pictor's indexer: configuration, storage, ingest and the SQLite index.

Nothing in this package imports ``origin``; the request-serving side depends on
this one, never the other way round.
"""
