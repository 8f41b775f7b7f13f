"""Orchestration: harvest → parse → (detect → captions) → store, one article at a time."""
