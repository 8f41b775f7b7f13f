"""Download scispaCy's linker files into its cache at image build time (`$SCISPACY_CACHE/datasets`).

    python docker/fetch_scispacy_data.py umls [mesh]

Only downloads (scispaCy's own `cached_path`, which names the files the way `captions/linking.py`
finds them); loading the UMLS linker would take about 11 GB of memory, building the image should not.
"""

from __future__ import annotations

import inspect
import sys

from scispacy.candidate_generation import DEFAULT_PATHS
from scispacy.file_cache import cached_path
from scispacy.linking_utils import DEFAULT_UMLS_PATH, DEFAULT_UMLS_TYPES_PATH, Mesh

KB_FILES = {
    "umls": [DEFAULT_UMLS_PATH, DEFAULT_UMLS_TYPES_PATH],
    "mesh": [inspect.signature(Mesh.__init__).parameters["file_path"].default],
}


def main(names: list[str]) -> None:
    for name in names or ["umls"]:
        for url in [*DEFAULT_PATHS[name], *KB_FILES[name]]:
            print(f"{name}: {url} -> {cached_path(url)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
