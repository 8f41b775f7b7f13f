"""Symlinks inside folder inputs never make figmine read a file outside the input: a bare JATS folder
and a bucket-layout mirror of real fixture articles, with links planted the way an attacker (or a
careless `ln -s`) would, through `iter_local_bundles` and through `figmine ingest`."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from support.s3_mirror import MIRROR_SOURCE
from support.sql import rows
from typer.testing import CliRunner

from figmine.cli import app
from harvester.records import ArticleBundle, SourceError
from harvester.sources.local import iter_local_bundles
from harvester.sources.mirror_builder import build_mirror

PONE = MIRROR_SOURCE / "PMC2924383"  # pone.0012255.nxml and its four figures
SECRET = "secret"  # the folder outside the input


def _plant(tmp: Path) -> tuple[Path, dict[str, Path]]:
    """An input folder of real articles with symlinks planted, and a folder beside it holding what the
    links point at. Returns the input root and the outside files that must never be read."""
    root, outside = tmp / "input", tmp / SECRET
    outside.mkdir()
    # another article's real figure and XML outside: stored, they would show up in the store
    stolen_image = shutil.copy(MIRROR_SOURCE / "PMC2958805" / "pcbi.1000960.g001.jpg", outside / "photo.jpg")
    stolen_article = shutil.copy(MIRROR_SOURCE / "PMC2958805" / "pcbi.1000960.nxml", outside / "private.nxml")

    # a bare JATS folder (an extracted package): three figures real, the fourth a link to the outside image
    bare = root / "bare"
    bare.mkdir(parents=True)
    shutil.copy(PONE / "pone.0012255.nxml", bare)
    for n in (1, 2, 3):
        shutil.copy(PONE / f"pone.0012255.g00{n}.jpg", bare)
    (bare / "pone.0012255.g004.jpg").symlink_to(stolen_image)
    (bare / "license.txt").symlink_to("/etc/passwd")
    (bare / "loop-a.jpg").symlink_to(bare / "loop-b.jpg")  # a loop costs nothing
    (bare / "loop-b.jpg").symlink_to(bare / "loop-a.jpg")

    # an article file that is a relative link out of the input
    lone = root / "lone"
    lone.mkdir()
    (lone / "pcbi.1000960.nxml").symlink_to(Path("..", "..", SECRET, "private.nxml"))
    # a linked folder is not walked into
    (root / "linked-folder").symlink_to(outside, target_is_directory=True)

    # a bucket-layout mirror of the fixture articles
    mirror = root / "mirror"
    build_mirror(mirror, source_dir=MIRROR_SOURCE)
    # both versions of PMC2924383: the XML of each replaced by a link to an identical copy outside
    # (its md5 still matches)
    for stem in ("PMC2924383.1", "PMC2924383.2"):
        xml = mirror / stem / f"{stem}.xml"
        shutil.move(xml, outside / xml.name)
        xml.symlink_to(outside / xml.name)
    # the whole version folder of PMC2958805.1 moved outside and linked back
    shutil.move(mirror / "PMC2958805.1", outside / "PMC2958805.1")
    (mirror / "PMC2958805.1").symlink_to(outside / "PMC2958805.1", target_is_directory=True)
    # PMC3532326.1: figure 2 links to an identical copy outside; figure 1 links inside the input
    small = mirror / "PMC3532326.1"
    fig2 = small / "1756-0500-5-615-2.jpg"
    shutil.move(fig2, outside / fig2.name)
    fig2.symlink_to(outside / fig2.name)
    fig1 = small / "1756-0500-5-615-1.jpg"
    (mirror / "shared").mkdir()
    shutil.move(fig1, mirror / "shared" / fig1.name)
    fig1.symlink_to(Path("..", "shared", fig1.name))
    return root, {"stolen image": stolen_image, "stolen article": stolen_article}


def _read_everything(bundles: list[ArticleBundle]) -> list[Path]:
    paths: list[Path] = []
    for bundle in bundles:
        paths += [p for p in (bundle.xml_path, bundle.pdf_path) if p is not None]
        paths += list(bundle.files.values())
    return paths


def test_local_bundles_never_point_outside_the_input(tmp_path: Path) -> None:
    root, _ = _plant(tmp_path)
    bundles: list[ArticleBundle] = []
    errors: list[SourceError] = []
    for item in iter_local_bundles([root], tmp_path / "work"):
        (errors if isinstance(item, SourceError) else bundles).append(item)  # type: ignore[arg-type]

    # nothing a bundle hands on resolves outside the input
    for path in _read_everything(bundles):
        assert path.resolve().is_relative_to(root.resolve()), f"{path} -> {path.resolve()}"

    # article files that escape: a failed item each, saying why
    reasons = {Path(e.origin or "").name: str(e) for e in errors}
    assert set(reasons) == {"pcbi.1000960.nxml", "PMC2924383.2", "PMC2958805.1"}, reasons
    assert all("is a symlink to outside the input" in r for r in reasons.values()), reasons
    assert "PMC2924383.2.xml is a symlink" in reasons["PMC2924383.2"]

    by_origin = {Path(b.origin or "").name: b for b in bundles}
    assert set(by_origin) == {"pone.0012255.nxml", "PMC3532326.1"}
    # media that escape are left out with a warning; the article keeps the rest
    bare = by_origin["pone.0012255.nxml"]
    assert set(bare.files) == {f"pone.0012255.g00{n}.jpg" for n in (1, 2, 3)}, bare.files
    assert any("pone.0012255.g004.jpg is a symlink to outside the input" in w for w in bare.warnings), bare.warnings
    assert any("license.txt is a symlink" in w for w in bare.warnings), bare.warnings
    small = by_origin["PMC3532326.1"]
    # a link that stays inside the input is followed
    assert set(small.files) == {"1756-0500-5-615-1.jpg"}, small.files
    assert any("1756-0500-5-615-2.jpg is a symlink to outside the input" in w for w in small.warnings)


def test_named_inputs_resolve_to_their_own_root(tmp_path: Path) -> None:
    root, _ = _plant(tmp_path)
    # a link to the input folder: the root is where it leads, so nothing inside counts as outside
    alias = tmp_path / "alias"
    alias.symlink_to(root, target_is_directory=True)
    found = [i for i in iter_local_bundles([alias / "mirror"], tmp_path / "work")]
    assert {Path(i.origin or "").name for i in found if isinstance(i, ArticleBundle)} == {"PMC3532326.1"}
    # a file named by the caller is read where it points; what lies beside it is checked
    named = list(iter_local_bundles([root / "lone" / "pcbi.1000960.nxml", root / "bare" / "pone.0012255.nxml"],
                                    tmp_path / "work"))
    assert all(isinstance(i, ArticleBundle) for i in named), named
    assert len(named[1].files) == 3 and "pone.0012255.g004.jpg" not in named[1].files


def test_ingest_stores_nothing_from_outside_the_input(figmine_env, tmp_path: Path) -> None:
    url = figmine_env["url"]
    root, planted = _plant(tmp_path)
    result = CliRunner().invoke(app, ["ingest", str(root), "--no-detect", "--no-concepts"], catch_exceptions=False)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output

    items = {Path(r.item).name: r for r in rows(url, "SELECT item, status, reason FROM harvest_items")}
    for name in ("pcbi.1000960.nxml", "PMC2958805.1", "PMC2924383.2"):
        assert items[name].status == "failed" and "is a symlink to outside the input" in items[name].reason, items

    # the two articles are stored; each figure whose image escaped has none, with the warning recorded
    stored = rows(url, "SELECT a.pmcid, a.source, a.warnings, f.jats_id, f.image_key, f.sha256 FROM articles a "
                       "JOIN figures f ON f.article_id = a.id ORDER BY a.source, f.ordinal")
    assert [(r.pmcid, r.source, r.image_key is not None) for r in stored] == [
        ("PMC3532326", "local", True), ("PMC3532326", "local", False),
        ("PMC2924383", "xml", True), ("PMC2924383", "xml", True), ("PMC2924383", "xml", True),
        ("PMC2924383", "xml", False)], stored
    for r in stored:
        escaped = "1756-0500-5-615-2.jpg" if r.source == "local" else "pone.0012255.g004.jpg"
        assert any(f"{escaped} is a symlink to outside the input" in w for w in r.warnings), r.warnings
    # nothing from outside is in the store: not the image, not the article
    secret = planted["stolen image"].read_bytes()
    assert hashlib.sha256(secret).hexdigest() not in {r.sha256 for r in stored}
    assert all(p.read_bytes() != secret for p in figmine_env["home"].rglob("*") if p.is_file())
    assert not rows(url, "SELECT 1 FROM articles WHERE pmcid = 'PMC2958805' OR title ILIKE '%marathon%'")
