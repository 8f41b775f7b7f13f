"""Harvest PMC Open Access articles: discover, fetch, parse JATS, extract figures and citances."""

import figmine  # noqa: F401  (turns ONNX Runtime's telemetry off before `import pymupdf` loads it)
