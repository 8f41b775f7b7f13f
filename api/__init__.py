"""FastAPI layer: filtered queries, exports and the browse page (issue 5)."""
