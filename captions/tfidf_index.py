"""The four files of a scispaCy candidate-generator index, written without scispaCy's builder.

scispaCy's `create_tfidf_ann_index` refuses to run with scipy ≥ 1.11 (it stores the vectors as
float16, which newer scipy sparse matrices do not support), so this module writes the same files
itself, as `scispacy.candidate_generation.LinkerPaths.from_directory(folder)` expects them:

- ``tfidf_vectorizer.joblib`` — a scikit-learn `TfidfVectorizer` over character 3-grams within word
  boundaries (``analyzer="char_wb"``, ``ngram_range=(3, 3)``, float32), fitted on the aliases;
- ``tfidf_vectors_sparse.npz`` — the aliases' tf-idf vectors, a scipy CSR matrix saved in float32
  (scispaCy's loader casts to float32 anyway);
- ``concept_aliases.json`` — the aliases, in the rows' order (aliases whose vector is empty are
  dropped, as scispaCy does, because nmslib crashes on zero vectors);
- ``nmslib_index.bin`` — an nmslib HNSW index in the ``cosinesimil_sparse`` space over those rows.

scispaCy builds its 3M-alias UMLS index with M=100 and efConstruction=2000 on 60 threads (about two
hours). For figmine's ~44k aliases, M=16 and efConstruction=200 build in about 30 s of CPU on this
machine; queried with 2,000 of the aliases themselves (k=10), the index returned the alias at
similarity 1.0 for 99.3% of them at scispaCy's ef_search=200 (M=32/efC=400: 99.75%, four times the
build time). Exact alias matches do not depend on it: `captions.linking.ExactFirstCandidateGenerator`
answers them from the KB's alias table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import captions.spacy_without_torch  # noqa: F401  (before spaCy)
import joblib
import nmslib
import numpy as np
import scipy.sparse
from scispacy.candidate_generation import LinkerPaths
from sklearn.feature_extraction.text import TfidfVectorizer

__all__ = ["INDEX_PARAMS", "INDEX_VERSION", "build_tfidf_ann_index"]

INDEX_PARAMS = {"M": 16, "efConstruction": 200, "post": 0}
# Part of the KB cache key: bump when the files written here change.
INDEX_VERSION = f"1;M={INDEX_PARAMS['M']};efC={INDEX_PARAMS['efConstruction']}"


def _min_df(n_aliases: int) -> int:
    # scispaCy drops 3-grams seen in fewer than 10 aliases; a small KB would lose every 3-gram.
    return 10 if n_aliases >= 20_000 else 1


def build_tfidf_ann_index(aliases: list[str], out_dir: Path, *, threads: int | None = None) -> LinkerPaths:
    """Fit the vectorizer on `aliases`, build the HNSW index and write the four files to `out_dir`."""
    if not aliases:
        raise ValueError("cannot build an index without aliases")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = LinkerPaths.from_directory(out_dir)

    vectorizer = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(3, 3), min_df=_min_df(len(aliases)), dtype=np.float32
    )
    vectors = vectorizer.fit_transform(aliases).tocsr().astype(np.float32)
    non_empty = np.asarray(vectors.getnnz(axis=1) > 0)
    kept = [a for a, keep in zip(aliases, non_empty) if keep]
    vectors = vectors[non_empty]

    joblib.dump(vectorizer, paths.tfidf_vectorizer)
    scipy.sparse.save_npz(paths.tfidf_vectors, vectors)
    with open(paths.concept_aliases_list, "w", encoding="utf-8") as f:
        json.dump(kept, f, ensure_ascii=False)

    index = nmslib.init(method="hnsw", space="cosinesimil_sparse", data_type=nmslib.DataType.SPARSE_VECTOR)
    index.addDataPointBatch(vectors)
    params = {**INDEX_PARAMS, "indexThreadQty": threads or min(4, os.cpu_count() or 1)}
    index.createIndex(params, print_progress=False)
    index.saveIndex(paths.ann_index)
    return paths
