"""Import spaCy without PyTorch: the concept tagger's process stays near 0.4 GB instead of 0.9 GB.

spaCy's machine-learning library, thinc, imports ``torch`` whenever it is installed (figmine's
environment has a CUDA build for the subfigure detector: about 500 MB of resident memory on
import). The tagger never needs it: `spacy.blank("en")`, scispaCy's linker and the
en_core_sci_sm/md models run on numpy. Importing this module first makes ``import torch`` fail
while thinc decides once that torch is absent, then puts things back, so code that imports torch
later in the same process still gets it. It does nothing when spaCy or torch are already loaded,
or when ``FIGMINE_NLP_MODEL`` names a transformer model (which needs torch).
"""

from __future__ import annotations

import os
import sys

_TRANSFORMER_HINTS = ("trf", "scibert", "transformer", "bert")


def _import_spacy_without_torch() -> None:
    if any(name in sys.modules for name in ("spacy", "thinc", "torch")):
        return
    model = os.environ.get("FIGMINE_NLP_MODEL", "").lower()
    if any(hint in model for hint in _TRANSFORMER_HINTS):
        return
    sys.modules["torch"] = None  # type: ignore[assignment]  # `import torch` now raises ImportError
    try:
        import thinc.compat  # noqa: F401  (sets has_torch = False for the process)
        import spacy  # noqa: F401
    finally:
        del sys.modules["torch"]


_import_spacy_without_torch()
