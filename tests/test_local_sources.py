"""Local inputs: real OA packages, hostile tarballs, bucket-layout mirrors, bare JATS files, mixed folders."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from harvester.records import ArticleBundle, SourceError
from harvester.sources.local import iter_local_bundles

PACKAGES = Path(__file__).parent / "fixtures" / "packages"

JATS = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE article PUBLIC "-//NLM//DTD JATS (Z39.96) Journal Archiving and Interchange DTD v1.2 20190208//EN"
  "JATS-archivearticle1.dtd">
<article xmlns:xlink="http://www.w3.org/1999/xlink" article-type="research-article">
<front><article-meta><article-id pub-id-type="pmc">{pmc}</article-id>
<title-group><article-title>T</article-title></title-group></article-meta></front>
<body><fig id="f1"><label>Figure 1</label><caption><p>c</p></caption><graphic xlink:href="gr1"/></fig></body>
</article>
"""


def _run(paths: list[Path], workdir: Path) -> tuple[list[ArticleBundle], list[SourceError]]:
    bundles: list[ArticleBundle] = []
    errors: list[SourceError] = []
    for item in iter_local_bundles(paths, workdir):
        (errors if isinstance(item, SourceError) else bundles).append(item)  # type: ignore[arg-type]
    return bundles, errors


def _files_outside(root: Path, workdir: Path) -> set[Path]:
    return {p for p in root.rglob("*") if not p.is_relative_to(workdir)}


# --- real OA packages -----------------------------------------------------------------------------


def test_real_oa_packages(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    bundles, errors = _run([PACKAGES], workdir)
    assert errors == []
    by_id = {b.pmcid: b for b in bundles}
    assert sorted(by_id) == ["PMC2924383", "PMC2958805", "PMC3532326"]
    for bundle in bundles:
        assert bundle.source == "package"
        assert bundle.version is None
        assert bundle.xml_path is not None and bundle.xml_path.suffix == ".nxml" and bundle.xml_path.is_file()
        assert bundle.xml_path.is_relative_to(workdir / "packages"), "packages are extracted under workdir"
        assert bundle.pdf_path is not None and bundle.pdf_path.suffix == ".pdf"
        assert "license.txt" not in bundle.files
        assert bundle.xml_path.name not in bundle.files and bundle.pdf_path.name not in bundle.files
        assert all(p.is_file() and p.is_relative_to(workdir) for p in bundle.files.values())
        # 2013 license.txt files only say "read the licence in the XML": nothing to normalise
        assert bundle.license_code is None
        assert bundle.origin and bundle.origin.endswith(".tar.gz")

    pone = by_id["PMC2924383"]
    assert {"pone.0012255.g001.jpg", "pone.0012255.g001.gif", "pone.0012255.s001.tif"} <= set(pone.files)
    assert pone.pdf_path.name == "pone.0012255.pdf"
    assert by_id["PMC2958805"].files["pcbi.1000960.g004.jpg"].stat().st_size == 115601
    assert {"1756-0500-5-615-1.jpg", "1756-0500-5-615-S1.gz"} <= set(by_id["PMC3532326"].files)


def test_each_package_gets_its_own_folder(tmp_path: Path) -> None:
    package = PACKAGES / "pmc3532326.tar.gz"
    bundles, errors = _run([package, package], tmp_path / "work")
    assert errors == [] and len(bundles) == 2
    assert bundles[0].xml_path != bundles[1].xml_path


def _tar(path: Path, entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _link(name: str, target: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def _good_members(top: str = "PMC123") -> list[tuple[tarfile.TarInfo, bytes | None]]:
    return [_file(f"{top}/article.nxml", JATS.format(pmc="123").encode()), _file(f"{top}/gr1.jpg", b"jpg")]


@pytest.mark.parametrize(
    ("evil", "message"),
    [
        (lambda out: _file("../escaped.txt", b"x"), "escapes with '..'"),
        (lambda out: _file("PMC123/../../escaped.txt", b"x"), "escapes with '..'"),
        (lambda out: _file(str(out / "absolute.txt"), b"x"), "absolute path"),
        (lambda out: _link("PMC123/passwd", "/etc/passwd", tarfile.SYMTYPE), "symlink to '/etc/passwd'"),
        (lambda out: _link("PMC123/up", "../../..", tarfile.SYMTYPE), "symlink"),
        (lambda out: _link("PMC123/hard", "/etc/passwd", tarfile.LNKTYPE), "hard link to '/etc/passwd'"),
        (lambda out: _link("PMC123/hard2", "PMC123/gr1.jpg", tarfile.LNKTYPE), "hard link"),
        (lambda out: _link("PMC123/tty", "", tarfile.CHRTYPE), "device"),
        (lambda out: _link("PMC123/fifo", "", tarfile.FIFOTYPE), "device, fifo"),
    ],
)
def test_malicious_packages_are_refused(tmp_path: Path, evil, message: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    workdir = tmp_path / "work"
    # the evil member comes last: checking must happen before anything is extracted
    bad = _tar(tmp_path / "evil.tar.gz", _good_members() + [evil(outside)])
    before = _files_outside(tmp_path, workdir)
    bundles, errors = _run([bad, PACKAGES / "pmc3532326.tar.gz"], workdir)
    assert len(errors) == 1 and len(bundles) == 1, "the next package is still read"
    assert "unsafe package evil.tar.gz" in str(errors[0]) and message in str(errors[0]), str(errors[0])
    assert _files_outside(tmp_path, workdir) == before, "nothing may be written outside workdir"
    leftovers = [p for p in (workdir / "packages").iterdir() if p.name.startswith("evil")]
    assert leftovers == [], "a refused package leaves no half-extracted folder"


def test_damaged_and_empty_packages(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.tar.gz"
    corrupt.write_bytes(os.urandom(2048))
    truncated = tmp_path / "truncated.tgz"
    truncated.write_bytes((PACKAGES / "pmc3532326.tar.gz").read_bytes()[:50_000])
    no_xml = _tar(tmp_path / "noxml.tar.gz", [_file("PMC9/readme.txt", b"hello")])
    bundles, errors = _run([corrupt, truncated, no_xml], tmp_path / "work")
    assert bundles == []
    messages = [str(e) for e in errors]
    assert len(messages) == 3
    assert "unreadable package" in messages[0] and "corrupt.tar.gz" in messages[0]
    assert "unreadable package" in messages[1] and "truncated.tgz" in messages[1]
    assert "holds no .nxml article" in messages[2]


def test_new_style_package_licence_and_id_from_top_folder(tmp_path: Path) -> None:
    licence = b"This article is distributed under the terms of the Creative Commons Attribution License (CC BY 4.0)."
    package = _tar(
        tmp_path / "download.tar.gz",
        _good_members("PMC7654321")
        + [_file("PMC7654321/license.txt", licence), _file("PMC7654321/article.pdf", b"%PDF")],
    )
    bundles, errors = _run([package], tmp_path / "work")
    assert errors == []
    (bundle,) = bundles
    assert (bundle.pmcid, bundle.license_code, bundle.source) == ("PMC7654321", "CC BY", "package")
    assert bundle.pdf_path is not None and bundle.pdf_path.name == "article.pdf"
    assert set(bundle.files) == {"gr1.jpg"}


# --- bucket-layout mirror ----------------------------------------------------------------------------


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _version_folder(
    root: Path, pmcid: str, version: int, *, media: dict[str, bytes], licence: str = "CC BY", retracted: bool = False,
    corrupt: str | None = None, listed_missing: tuple[str, ...] = (),
) -> Path:
    stem = f"{pmcid}.{version}"
    folder = root / stem
    folder.mkdir(parents=True)
    xml = JATS.format(pmc=pmcid[3:]).encode()
    pdf = b"%PDF-1.4 " + stem.encode()
    (folder / f"{stem}.xml").write_bytes(xml)
    (folder / f"{stem}.pdf").write_bytes(pdf)
    (folder / f"{stem}.txt").write_text("plain text")
    urls = []
    for name, data in media.items():
        (folder / name).write_bytes(data)
        urls.append(f"s3://pmc-oa-opendata/{stem}/{name}?md5={_md5(data)}")
    for name in listed_missing:
        urls.append(f"s3://pmc-oa-opendata/{stem}/{name}?md5={_md5(b'gone')}")
    meta = {
        "pmcid": pmcid, "version": version, "pmid": 41623473, "doi": "10.1016/j.isci.2025.114581", "mid": None,
        "title": "A title", "citation": "iScience. 2025", "is_pmc_openaccess": True, "is_manuscript": False,
        "is_historical_ocr": False, "is_retracted": retracted, "license_code": licence,
        "pdf_url": f"s3://pmc-oa-opendata/{stem}/{stem}.pdf?md5={_md5(pdf)}",
        "xml_url": f"s3://pmc-oa-opendata/{stem}/{stem}.xml?md5={_md5(xml)}",
        "text_url": f"s3://pmc-oa-opendata/{stem}/{stem}.txt?md5={_md5(b'plain text')}",
        "media_urls": urls,
    }
    (folder / f"{stem}.json").write_text(json.dumps(meta))
    (root / "metadata").mkdir(exist_ok=True)
    (root / "metadata" / f"{stem}.json").write_text(json.dumps(meta))
    if corrupt:
        (folder / corrupt).write_bytes(b"changed after download")
    return folder


def test_mirror_highest_version_metadata_and_checksums(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    _version_folder(mirror, "PMC12855588", 1, media={"gr1.jpg": b"old"})
    _version_folder(
        mirror, "PMC12855588", 2, media={"gr1.jpg": b"new1", "gr2.jpg": b"new2", "mmc1.pdf": b"supp"},
        licence="CC-BY-NC", retracted=True, listed_missing=("fx1.jpg",),
    )
    bundles, errors = _run([mirror], tmp_path / "work")
    assert errors == []
    (bundle,) = bundles
    assert (bundle.source, bundle.pmcid, bundle.version) == ("local", "PMC12855588", 2)
    assert bundle.xml_path == mirror / "PMC12855588.2" / "PMC12855588.2.xml"
    assert bundle.pdf_path == mirror / "PMC12855588.2" / "PMC12855588.2.pdf"
    assert set(bundle.files) == {"gr1.jpg", "gr2.jpg", "mmc1.pdf"}
    assert bundle.files["gr1.jpg"].read_bytes() == b"new1"
    assert (bundle.license_code, bundle.retracted, bundle.is_manuscript) == ("CC BY-NC", True, False)
    assert (bundle.pmid, bundle.doi, bundle.title) == ("41623473", "10.1016/j.isci.2025.114581", "A title")
    assert bundle.checksums["gr2.jpg"] == _md5(b"new2")
    assert bundle.checksums["PMC12855588.2.xml"] == _md5(bundle.xml_path.read_bytes())
    assert any("fx1.jpg" in w for w in bundle.warnings), bundle.warnings
    assert any("PMC12855588.1" in w for w in bundle.warnings), "the skipped version is mentioned"
    assert not (tmp_path / "work" / "packages").exists(), "a mirror is read in place"


def test_mirror_xml_md5_mismatch_is_a_source_error(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    _version_folder(mirror, "PMC200", 1, media={"gr1.jpg": b"image"}, corrupt="PMC200.1.xml")
    _version_folder(mirror, "PMC300", 1, media={"gr1.jpg": b"fine"})
    bundles, errors = _run([mirror], tmp_path / "work")
    assert [b.pmcid for b in bundles] == ["PMC300"]
    (error,) = errors
    assert error.pmcid == "PMC200"
    assert "md5 mismatch" in str(error) and "PMC200.1.xml" in str(error)


@pytest.mark.parametrize("corrupt", ["gr1.jpg", "PMC200.1.pdf"])
def test_mirror_media_md5_mismatch_leaves_that_file_out(tmp_path: Path, corrupt: str) -> None:
    mirror = tmp_path / "mirror"
    _version_folder(mirror, "PMC200", 1, media={"gr1.jpg": b"image"}, corrupt=corrupt)
    (bundle,), errors = _run([mirror], tmp_path / "work")
    assert not errors
    assert corrupt not in bundle.files
    assert bundle.pdf_path is None or bundle.pdf_path.name != corrupt
    assert any("md5 mismatch" in w and corrupt in w for w in bundle.warnings), bundle.warnings
    if corrupt == "gr1.jpg":  # a figure's picture: the article will be partial without it
        assert "md5 mismatch" in bundle.missing["gr1.jpg"]


def test_version_folder_given_directly_and_via_its_xml(tmp_path: Path) -> None:
    folder = _version_folder(tmp_path / "m", "PMC5", 3, media={"gr1.jpg": b"g"})
    for path in (folder, folder / "PMC5.3.xml"):
        (bundle,) = _run([path], tmp_path / "work")[0]
        assert (bundle.source, bundle.pmcid, bundle.version, set(bundle.files)) == ("local", "PMC5", 3, {"gr1.jpg"})


def test_version_folder_without_json_and_with_bad_json(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    plain = mirror / "PMC42.1"
    plain.mkdir(parents=True)
    (plain / "PMC42.1.xml").write_text(JATS.format(pmc="42"))
    (plain / "fig1.png").write_bytes(b"png")
    broken = _version_folder(mirror, "PMC43", 1, media={})
    (broken / "PMC43.1.json").write_text("{not json")
    shutil.rmtree(mirror / "metadata")
    bundles, errors = _run([mirror], tmp_path / "work")
    (bundle,) = bundles
    assert (bundle.pmcid, bundle.version, set(bundle.files)) == ("PMC42", 1, {"fig1.png"})
    assert any("checksums not verified" in w for w in bundle.warnings)
    (error,) = errors
    assert "bad metadata JSON" in str(error) and error.pmcid == "PMC43"


def test_missing_xml_in_version_folder(tmp_path: Path) -> None:
    folder = _version_folder(tmp_path / "m", "PMC77", 1, media={})
    (folder / "PMC77.1.xml").unlink()
    bundles, errors = _run([folder], tmp_path / "work")
    assert bundles == [] and "article XML missing" in str(errors[0])


# --- bare XML and mixed folders ---------------------------------------------------------------------


def test_bare_xml_files(tmp_path: Path) -> None:
    xml_dir = tmp_path / "xml"
    xml_dir.mkdir()
    (xml_dir / "PMC999.xml").write_text(JATS.format(pmc="999"))
    (xml_dir / "PMC1000.2.nxml").write_text(JATS.format(pmc="1000"))
    (xml_dir / "journal.pone.0000001.xml").write_text(JATS.format(pmc="1"))
    (xml_dir / "journal.pone.0000001.g001.jpg").write_bytes(b"j")
    (xml_dir / "listing.xml").write_text("<ListBucketResult><Prefix>PMC1.1/</Prefix></ListBucketResult>")
    bundles, errors = _run([xml_dir], tmp_path / "work")
    assert errors == [], "XML that is not an article is skipped while walking"
    got = {b.xml_path.name: b for b in bundles}  # type: ignore[union-attr]
    assert sorted(got) == ["PMC1000.2.nxml", "PMC999.xml", "journal.pone.0000001.xml"]
    assert all(b.source == "xml" for b in bundles)
    assert (got["PMC999.xml"].pmcid, got["PMC999.xml"].version) == ("PMC999", None)
    assert (got["PMC1000.2.nxml"].pmcid, got["PMC1000.2.nxml"].version) == ("PMC1000", 2)
    assert got["journal.pone.0000001.xml"].pmcid is None, "the parser reads it from the XML later"
    # files named after an XML belong to it; nothing else does when several XMLs share a folder
    assert set(got["journal.pone.0000001.xml"].files) == {"journal.pone.0000001.g001.jpg"}
    assert got["PMC999.xml"].files == {}

    bundles, errors = _run([xml_dir / "listing.xml"], tmp_path / "work")
    assert bundles == [] and "not a JATS article" in str(errors[0])


def test_mixed_folder_walked_recursively(tmp_path: Path) -> None:
    root = tmp_path / "downloads"
    (root / "old").mkdir(parents=True)
    shutil.copy(PACKAGES / "pmc2924383.tar.gz", root / "old")
    _version_folder(root / "mirror", "PMC11370360", 1, media={"gr1.jpg": b"a"})
    _version_folder(root / "mirror", "PMC11370360", 2, media={"gr1.jpg": b"b"})
    # an extracted package: one nxml with its figures, pdf and licence beside it
    with tarfile.open(PACKAGES / "pmc3532326.tar.gz") as tar:
        tar.extractall(root / "unpacked", filter="data")
    (root / "loose" / "deeper").mkdir(parents=True)
    (root / "loose" / "deeper" / "PMC31.xml").write_text(JATS.format(pmc="31"))
    (root / "notes.txt").write_text("not an input")
    workdir = root / "work"  # inside the walked tree: its extracted packages must not be read back

    for _ in range(2):
        bundles, errors = _run([root], workdir)
        assert errors == []
        kinds = sorted((b.source, b.pmcid or "", b.version or 0) for b in bundles)
        assert kinds == [
            ("local", "PMC11370360", 2),
            ("package", "PMC2924383", 0),
            ("xml", "", 0),
            ("xml", "PMC31", 0),
        ]
    unpacked = next(b for b in bundles if b.source == "xml" and b.pmcid is None)
    assert unpacked.pdf_path is not None and unpacked.pdf_path.name == "1756-0500-5-615.pdf"
    assert {"1756-0500-5-615-1.jpg", "1756-0500-5-615-1.gif"} <= set(unpacked.files)
    assert "license.txt" not in unpacked.files


def test_missing_and_unsupported_inputs(tmp_path: Path) -> None:
    odd = tmp_path / "paper.docx"
    odd.write_bytes(b"PK")
    bundles, errors = _run([tmp_path / "nope", odd], tmp_path / "work")
    assert bundles == []
    assert "local input not found" in str(errors[0])
    assert "unsupported local input" in str(errors[1]) and "paper.docx" in str(errors[1])
