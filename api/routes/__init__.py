"""Thin route modules: validate, call a query function from api.queries, return a schema."""
