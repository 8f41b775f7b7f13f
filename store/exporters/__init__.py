"""Exporters share one input (figure rows from store.figure_records) and differ only in format."""
