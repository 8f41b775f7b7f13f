"""Subfigure detection: split compound figures into panels and read their labels (issue 3)."""
