"""figmine: a living, panel-level image–text corpus mined from PubMed Central Open Access."""

import os

__version__ = "0.1.0"

# ONNX Runtime (the detector, the label reader, and pymupdf's layout model, loaded by `import pymupdf`)
# ships telemetry that resolves mobile.events.data.microsoft.com ~10 s after it starts and keeps an event
# store under ~/.cache/Microsoft. Only this variable, set before it is imported, turns that off
# (`onnxruntime.disable_telemetry_events()` does not). Every entry point (CLI, API, Celery worker) imports
# figmine first, the `harvester` and `subfigure_detector` packages import it before anything of theirs can
# load ONNX Runtime, and child processes (the local pool, uvicorn and Celery workers) inherit the variable.
# tests/test_no_outbound.py checks it.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
# Hugging Face libraries (model2vec's loader, and `datasets` where users load exports in the same
# process) never reach the Hub from figmine: everything they load is a local folder.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
