"""End to end on real material: local packages and JATS files → PostgreSQL → JSONL export."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

from sqlalchemy import create_engine, select, text
from support.sql import scalar
from typer.testing import CliRunner

from figmine.cli import app
from pipeline.runner import EXIT_CODES
from store.models import HarvestItem

FIXTURES = Path(__file__).parent / "fixtures"
PACKAGES = sorted((FIXTURES / "packages").glob("*.tar.gz"))
runner = CliRunner()


def invoke(*args: str):
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result



def test_ingest_real_oa_packages_then_skip_on_rerun(figmine_env):
    url = figmine_env["url"]
    result = invoke("ingest", *map(str, PACKAGES))
    assert result.exit_code == 0, result.output
    assert scalar(url, "SELECT count(*) FROM articles") == 3
    # PLoS ONE 2010 (pmc2924383) has 4 figures, each with its JPEG in the package
    assert scalar(url, "SELECT count(*) FROM figures f JOIN articles a ON a.id=f.article_id "
                       "WHERE a.doi='10.1371/journal.pone.0012255' AND f.image_key IS NOT NULL") == 4
    assert scalar(url, "SELECT count(*) FROM figures WHERE width > 0 AND height > 0 AND sha256 IS NOT NULL "
                       "AND phash IS NOT NULL") >= 8
    assert scalar(url, "SELECT count(*) FROM citances") > 10
    assert scalar(url, "SELECT count(*) FROM citance_figures WHERE cardinality(panels) > 0") > 0
    assert scalar(url, "SELECT count(DISTINCT license_code) FROM articles WHERE license_code IS NOT NULL") >= 1
    # captions split into subcaptions and a modality per figure (panels are aligned by detection later)
    assert scalar(url, "SELECT count(*) FROM subcaptions WHERE label IS NOT NULL AND full_text <> ''") > 0
    assert scalar(url, "SELECT count(*) FROM figures WHERE modality_id IS NULL AND caption_text <> ''") == 0

    figures_before = scalar(url, "SELECT count(*) FROM figures")
    again = invoke("ingest", *map(str, PACKAGES))
    assert again.exit_code == 0, again.output
    assert scalar(url, "SELECT count(*) FROM articles") == 3
    assert scalar(url, "SELECT count(*) FROM figures") == figures_before
    last_run = scalar(url, "SELECT max(run_id) FROM harvest_items")
    assert scalar(url, f"SELECT count(*) FROM harvest_items WHERE run_id={last_run} AND status='skipped'") == 3


def test_export_jsonl_contract(figmine_env, tmp_path):
    invoke("ingest", str(PACKAGES[0]), str(FIXTURES / "nxml"))
    out = tmp_path / "export" / "figures.jsonl"
    result = invoke("export", "--format", "jsonl", "--out", str(out))
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records, "export wrote no figure"
    required = {"pmcid", "version", "pmid", "doi", "license", "figure_id", "label", "caption", "image",
                "width", "height", "sha256", "citances", "subfigures", "concepts", "modality"}
    for record in records:
        assert required <= record.keys(), f"missing {required - record.keys()}"
        for citance in record["citances"]:
            assert set(citance) == {"text", "section", "panels"}
    with_image = [r for r in records if r["image"]]
    assert with_image, "no exported figure has an image"
    for record in with_image:
        image = out.parent / record["image"]
        assert image.is_file() and not Path(record["image"]).is_absolute()
    # figures from bare JATS files have no image but are still exported
    assert any(r["image"] is None for r in records)

    only = tmp_path / "one.jsonl"
    pmcid = next(r["pmcid"] for r in records if r["pmcid"])
    invoke("export", "--format", "jsonl", "--out", str(only), "--pmcid", pmcid, "--no-images")
    subset = [json.loads(line) for line in only.read_text().splitlines()]
    assert subset and {r["pmcid"] for r in subset} == {pmcid}


def test_bad_inputs_are_recorded_and_the_run_goes_on(figmine_env, tmp_path):
    url = figmine_env["url"]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "xxe.xml").write_text(
        '<?xml version="1.0"?><!DOCTYPE article [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        '<article><front><article-meta><title-group><article-title>&xxe;</article-title></title-group>'
        '</article-meta></front></article>'
    )
    laughs = "".join(f'<!ENTITY l{i} "{"&l%d;" % (i - 1) * 10}">' for i in range(1, 10))
    (bad / "laughs.xml").write_text(
        f'<?xml version="1.0"?><!DOCTYPE article [<!ENTITY l0 "lol">{laughs}]><article><body><p>&l9;</p></body></article>'
    )
    (bad / "not-xml.nxml").write_bytes(b"\x89PNG\r\n\x1a\n this is not xml at all")
    # a real package whose first figure is truncated
    broken = tmp_path / "broken_pkg.tar.gz"
    with tarfile.open(PACKAGES[0]) as src, tarfile.open(broken, "w:gz") as dst:
        truncated_one = False
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            if data is not None and member.name.endswith(".g001.jpg") and not truncated_one:
                data = data[: len(data) // 3]
                member.size = len(data)
                truncated_one = True
            dst.addfile(member, __import__("io").BytesIO(data) if data is not None else None)
    # a package that tries to write outside its folder
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as dst:
        payload = b"<article/>"
        member = tarfile.TarInfo("../../escape.nxml")
        member.size = len(payload)
        dst.addfile(member, __import__("io").BytesIO(payload))
    good = FIXTURES / "nxml"
    result = invoke("ingest", str(bad), str(broken), str(evil), str(good))
    assert result.exit_code == EXIT_CODES["failed"], result.output  # the run went on, and says some failed

    engine = create_engine(url)
    with engine.connect() as conn:
        items = {row.item: row for row in conn.execute(select(HarvestItem))}
        failed = {k: v.reason for k, v in items.items() if v.status == "failed"}
        assert any("not-xml" in k for k in failed), failed
        assert all(v for v in failed.values()), "every failure says why"
        assert any("evil.tar.gz" in k and ".." in v for k, v in failed.items()), failed
        assert not (tmp_path.parent / "escape.nxml").exists()
        assert "root:" not in json.dumps([r for r in conn.execute(text("SELECT title FROM articles")).scalars()])
        partial = {Path(k).name: v.reason for k, v in items.items() if v.status == "partial"}
        assert "truncated" in partial["broken_pkg.tar.gz"].lower()
        # entities are never expanded: the text they stood for is reported lost, the article kept
        assert "entity reference missing" in partial["laughs.xml"] and "entity" in partial["xxe.xml"]
        # the broken package's other figures are stored with their images
        n = conn.execute(text("SELECT count(*) FROM figures f JOIN articles a ON a.id=f.article_id "
                              "WHERE a.doi='10.1371/journal.pone.0012255' AND image_key IS NOT NULL")).scalar()
        assert n == 3
        assert conn.execute(text("SELECT count(*) FROM articles")).scalar() >= len(list(good.rglob("*.*ml"))) - 2
    engine.dispose()


def test_bare_xml_of_a_stored_article_does_not_drop_its_images(figmine_env, tmp_path):
    url = figmine_env["url"]
    package = next(p for p in PACKAGES if "2924383" in p.name)
    invoke("ingest", str(package))
    same_xml = tmp_path / "pone.0012255.nxml"  # alone: no figure files beside it
    shutil.copy(FIXTURES / "s3_mirror_src" / "PMC2924383" / "pone.0012255.nxml", same_xml)
    result = invoke("ingest", str(same_xml))
    assert result.exit_code == 0, result.output
    assert scalar(url, "SELECT count(*) FROM figures WHERE image_key IS NOT NULL") == 4
    assert scalar(url, "SELECT status FROM harvest_items ORDER BY id DESC LIMIT 1") == "skipped"
