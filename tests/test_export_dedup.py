"""Duplicate removal across articles on real figures: exact copies (sha256) and re-encodings (pHash)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import imagehash
import pytest
import webdataset as wds
from PIL import Image
from sqlalchemy import select
from typer.testing import CliRunner

from figmine.cli import app
from harvester.images import load_image
from store.exporters import run_export
from store.models import Article, Figure

PACKAGES = Path(__file__).parent / "fixtures" / "packages"


def _copy_article(session, source: Article, pmcid: str, figures: list[Figure]) -> None:
    """Another article (as a reprint or a figure reused elsewhere) holding the given figure rows."""
    copy = Article(article_key=pmcid, pmcid=pmcid, version=1, title=f"copy of {source.pmcid}",
                   license_code=source.license_code, source="local", xml_sha256="0" * 64, content_hash="0" * 64)
    session.add(copy)
    session.flush()
    for ordinal, fig in enumerate(figures):
        session.add(Figure(article_id=copy.id, ordinal=ordinal, label=fig.label, caption_text=fig.caption_text,
                           image_key=fig.image_key, image_format=fig.image_format, width=fig.width,
                           height=fig.height, sha256=fig.sha256, phash=fig.phash, source="xml"))


@pytest.fixture
def duplicated(figmine_env):
    """PMC2924383's 4 figures, an exact copy of them in PMC9000001 and a re-encoded first one in PMC9000002."""
    assert CliRunner().invoke(app, ["ingest", "--no-detect", str(PACKAGES)], catch_exceptions=False).exit_code == 0
    from figmine.settings import get_settings
    from store.blobs import open_blob_store
    from store.db import session_factory

    blobs = open_blob_store(get_settings().blob_location)
    factory = session_factory()
    with factory() as s:
        source = s.scalars(select(Article).where(Article.pmcid == "PMC2924383")).one()
        figures = list(source.figures)
        _copy_article(s, source, "PMC9000001", figures)
        original = Image.open(io.BytesIO(blobs.open(figures[0].image_key))).convert("RGB")
        out = io.BytesIO()
        original.resize((original.width * 9 // 10, original.height * 9 // 10)).save(out, "JPEG", quality=70)
        info = load_image(out.getvalue())
        distance = imagehash.hex_to_hash(info.phash) - imagehash.hex_to_hash(figures[0].phash)
        assert 0 < distance <= 4 and info.sha256 != figures[0].sha256, f"re-encoding moved pHash by {distance}"
        reencoded = Figure(label="Figure 1", caption_text="the same figure, re-encoded",
                           image_key=blobs.put_bytes(out.getvalue(), "jpg"), image_format="JPEG",
                           width=info.width, height=info.height, sha256=info.sha256, phash=info.phash)
        _copy_article(s, source, "PMC9000002", [reencoded])
        s.commit()
    return {"factory": factory, "blobs": blobs}


def _keys(result) -> list[str]:
    urls = [str(result.out / f.path) for f in result.files if f.kind == "shard"]
    return [s["__key__"] for s in wds.WebDataset(urls, shardshuffle=False)]


def test_sha256_dedup_drops_exact_copies_and_keeps_the_first(duplicated, tmp_path):
    result = run_export(duplicated["factory"], duplicated["blobs"], out_dir=tmp_path / "x", format="webdataset",
                        dedup="sha256")
    keys = _keys(result)
    assert not [k for k in keys if k.startswith("PMC9000001")], "exact copies must go"
    assert [k for k in keys if k.startswith("PMC2924383")] == [f"PMC2924383_f{i:03d}" for i in range(4)]
    assert "PMC9000002_f000" in keys, "a re-encoded copy is not an exact duplicate"
    assert result.counts["duplicates"] == {"sha256": 4, "phash": 0}


def test_phash_dedup_drops_near_copies_across_articles(duplicated, tmp_path):
    result = run_export(duplicated["factory"], duplicated["blobs"], out_dir=tmp_path / "x", format="webdataset",
                        dedup={"method": "phash", "threshold": 4})
    keys = _keys(result)
    assert not [k for k in keys if k.startswith(("PMC9000001", "PMC9000002"))], keys
    assert result.counts["duplicates"] == {"sha256": 4, "phash": 1}
    assert result.counts["records"] == len(keys) == 10
    manifest = json.loads(result.manifest.read_text())
    assert manifest["dedup"] == {"method": "phash", "threshold": 4}


def test_without_dedup_every_copy_is_exported(duplicated, tmp_path):
    result = run_export(duplicated["factory"], duplicated["blobs"], out_dir=tmp_path / "x", format="webdataset")
    assert len(_keys(result)) == 15 and result.counts["duplicates"] == {"sha256": 0, "phash": 0}
