"""Persistence: SQLAlchemy models, database sessions, the blob store, queries and exports."""
