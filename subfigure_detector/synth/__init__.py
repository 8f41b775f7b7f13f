"""Synthetic compound figures built from real layouts: the subfigure detector's training data (see README.md)."""
