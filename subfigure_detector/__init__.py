"""Subfigure detection: split compound figures into panels and read their labels (issue 3)."""

import figmine  # noqa: F401  (turns ONNX Runtime's telemetry off before a module here imports it)
