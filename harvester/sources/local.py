"""Local inputs: bucket mirrors, legacy OA packages and bare JATS files, for offline work.

`iter_local_bundles(paths, workdir)` accepts any mix of

* a mirror of the PMC bucket layout (FORMATS.md §4): `PMC<id>.<ver>/PMC<id>.<ver>.{xml,json,pdf,txt}`
  plus media files. The highest version of each article wins; licence, retraction and the media list
  come from the metadata JSON, and every file the JSON gives an `?md5=` for is verified.
  `source="local"`.
* legacy OA packages `*.tar.gz` / `*.tgz` (FORMATS.md §2: one folder with `<name>.nxml`, `<name>.pdf`,
  figures, thumbnails, supplements and `license.txt`). They are extracted under `workdir` only after
  every member has been checked, then again through tarfile's `data` filter. `source="package"`.
* bare `.nxml` / `.xml` files; files beside them are attached so an extracted package folder keeps
  its figures. `source="xml"`.
* folders holding any of the above, walked recursively (a bucket version folder is one article).

A bad item yields a `SourceError` and the iteration goes on with the next one.

Symlinks are followed only while they stay inside the input (the path named, resolved; for a named
file, its folder): a folder input could otherwise hand `gr1.jpg -> /etc/passwd` to the store. An article
file that resolves outside fails its article; a media file that does is left out with a warning.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

from figmine.disk_full import DiskFull, as_disk_full
from harvester.jats.encoding import sniff_jats
from harvester.licenses import normalise_license
from harvester.records import ArticleBundle, SourceError
from harvester.sources.pmc_metadata import MAX_METADATA_BYTES, PmcMetadata, S3Object, parse_metadata

PACKAGE_SUFFIXES = (".tar.gz", ".tgz")
XML_SUFFIXES = (".nxml", ".xml")
# A version folder of the bucket layout, e.g. "PMC12855588.1".
VERSION_DIR_RE = re.compile(r"^(PMC\d+)\.(\d+)$")
# "PMC2924383.nxml", "pmc2924383.tar.gz", "PMC12855588.1.xml": the id (and version) a name carries.
NAME_ID_RE = re.compile(r"^pmc(\d+)(?:\.(\d+))?(?=[._\-]|$)", re.IGNORECASE)
# publishers' versioned file names, e.g. eLife's "elife-00013-v2.xml" (a version of one article)
VERSION_SUFFIX_RE = re.compile(r"[-_]v(\d{1,4})\.(?:nxml|xml)$", re.IGNORECASE)

# Limits for one package: real OA packages are a few MB to a few hundred MB with < 1,000 files.
MAX_PACKAGE_BYTES = 4 << 30
MAX_PACKAGE_MEMBERS = 20_000
_SNIFF_BYTES = 256 * 1024
_CHUNK = 1 << 20
# Files of the article itself, not media the XML refers to.
_NOT_MEDIA_NAMES = {"license.txt"}


@dataclass
class _Item:
    """One planned article: discovered cheaply while walking, read when its turn comes."""

    kind: str  # prefix | package | xml
    path: Path
    explicit: bool = False  # named by the caller (errors are reported) vs found by walking (skipped)
    pmcid: str | None = None
    version: int | None = None
    siblings: list[Path] = field(default_factory=list)  # for kind == "xml"
    skipped_versions: list[str] = field(default_factory=list)
    root: Path | None = None  # the resolved input it was found in: nothing outside it is read


def iter_local_bundles(paths: list[Path], workdir: Path) -> Iterator[ArticleBundle | SourceError]:
    """Yield one ArticleBundle (or SourceError) per article found under `paths`.

    Packages are extracted into a fresh folder under `workdir/packages/`; the caller owns `workdir`
    and removes it when the bundles are no longer needed. Nothing is written anywhere else.
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    items: list[_Item | SourceError] = []
    for raw in paths:
        items.extend(_plan(Path(raw), workdir))
    for item in _keep_highest_versions(items):
        if isinstance(item, SourceError):
            yield item
            continue
        try:
            if item.kind == "prefix":
                yield _bundle_from_version_dir(item)
            elif item.kind == "package":
                yield _bundle_from_package(item, workdir)
            else:
                bundle = _bundle_from_xml(item)
                if bundle is not None:
                    yield bundle
        except SourceError as exc:
            exc.origin = exc.origin or str(item.path)
            yield exc
        except DiskFull:
            raise  # no input's fault: the run stops
        except (OSError, ValueError) as exc:  # the unexpected still only costs this one article
            yield SourceError(f"{item.path}: {exc}", pmcid=item.pmcid, origin=str(item.path))


# --- discovery ------------------------------------------------------------------------------------


def _id_from_name(name: str) -> tuple[str | None, int | None]:
    m = NAME_ID_RE.match(name)
    if not m:
        version = VERSION_SUFFIX_RE.search(name)  # "elife-00013-v2.xml": no id, but a version
        return None, int(version.group(1)) if version else None
    return f"PMC{m.group(1)}", int(m.group(2)) if m.group(2) else None


def _is_package(path: Path) -> bool:
    return path.name.lower().endswith(PACKAGE_SUFFIXES)


def _is_xml(path: Path) -> bool:
    return path.name.lower().endswith(XML_SUFFIXES)


def _version_dir(folder: Path) -> tuple[str, int] | None:
    """('PMC123', 2) when `folder` is a bucket version folder holding that version's XML or JSON."""
    m = VERSION_DIR_RE.match(folder.name)
    if not m:
        return None
    stem = folder.name
    if (folder / f"{stem}.xml").is_file() or (folder / f"{stem}.json").is_file():
        return m.group(1), int(m.group(2))
    return None


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder)
    except (OSError, RuntimeError):  # a symlink loop
        return False


def _escapes(path: Path, root: Path | None) -> bool:
    """Whether reading `path` would read outside the input `root` (through a symlink)."""
    return root is not None and not _inside(path, root)


def _outside_input(path: Path) -> str:
    return f"{path} is a symlink to outside the input"


def _plan(path: Path, workdir: Path) -> list[_Item | SourceError]:
    if not path.exists():
        return [SourceError(f"local input not found: {path}")]
    if path.is_dir():
        root = path.resolve()
        found = _version_dir(path)
        if found:
            return [_Item("prefix", path, explicit=True, pmcid=found[0], version=found[1], root=root)]
        return _walk(path, workdir, root)
    # a file named by the caller is read wherever it points; what lies beside it stays in its folder
    root = path.parent.resolve()
    if _is_package(path):
        pmcid, version = _id_from_name(path.name)
        return [_Item("package", path, explicit=True, pmcid=pmcid, version=version)]
    if _is_xml(path):
        found = _version_dir(path.parent)
        if found and path.name.startswith(path.parent.name):
            return [_Item("prefix", path.parent, explicit=True, pmcid=found[0], version=found[1], root=root)]
        return [_xml_item(path, _siblings(path.parent), explicit=True, root=root)]
    return [
        SourceError(f"unsupported local input {path}: expected a folder, a .tar.gz/.tgz package or an .nxml/.xml file")
    ]


def _siblings(folder: Path) -> list[Path]:
    """The files of `folder`, symlinks to files included (whoever reads one checks where it leads)."""
    try:
        return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    except OSError:
        return []


def _xml_item(path: Path, siblings: list[Path], *, explicit: bool, root: Path | None) -> _Item:
    pmcid, version = _id_from_name(path.name)
    xml_count = sum(1 for s in siblings if _is_xml(s))
    stem = path.name.rsplit(".", 1)[0]
    attach = []
    for sibling in siblings:
        if sibling == path or _is_xml(sibling) or _is_package(sibling):
            continue
        # alone in its folder (an extracted package): everything beside it belongs to it;
        # otherwise only files named after it ("pone.0012255.g001.jpg" beside "pone.0012255.xml")
        if xml_count == 1 or re.match(re.escape(stem) + r"[.\-_]", sibling.name):
            attach.append(sibling)
    return _Item("xml", path, explicit=explicit, pmcid=pmcid, version=version, siblings=attach, root=root)


def _walk(top: Path, workdir: Path, root: Path) -> list[_Item | SourceError]:
    items: list[_Item | SourceError] = []
    # symlinked folders are not walked into (no loops); one that is a version folder is still an
    # article, and reading it checks that it stays inside `root`
    for current, dirs, files in os.walk(top):
        folder = Path(current)
        # never re-read what this module extracted when workdir lies inside the walked tree
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and not _inside(folder / d, workdir)
        )
        kept: list[str] = []
        for d in dirs:
            found = _version_dir(folder / d)
            if found:
                items.append(_Item("prefix", folder / d, pmcid=found[0], version=found[1], root=root))
            else:
                kept.append(d)
        dirs[:] = kept
        if folder.name == "metadata" and _version_dir(folder) is None:
            continue  # bucket `metadata/` copies of the per-version JSON: not articles
        entries = sorted(folder / f for f in files if not f.startswith("."))
        for entry in entries:
            if _is_package(entry):
                pmcid, version = _id_from_name(entry.name)
                items.append(_Item("package", entry, pmcid=pmcid, version=version, root=root))
            elif _is_xml(entry):
                items.append(_xml_item(entry, entries, explicit=False, root=root))
    return items


def _keep_highest_versions(items: list[_Item | SourceError]) -> list[_Item | SourceError]:
    """Several bucket versions of one article: keep the highest, at the place it was found."""
    best: dict[str, _Item] = {}
    for item in items:
        if isinstance(item, _Item) and item.kind == "prefix" and item.pmcid:
            held = best.get(item.pmcid)
            if held is None or (item.version or 0) > (held.version or 0):
                best[item.pmcid] = item
    out: list[_Item | SourceError] = []
    seen: set[tuple[str, Path]] = set()
    for item in items:
        if isinstance(item, _Item) and item.kind == "prefix" and item.pmcid:
            winner = best[item.pmcid]
            if item is not winner:
                if item.path != winner.path:
                    winner.skipped_versions.append(item.path.name)
                continue
            key = ("prefix", item.path.resolve())
            if key in seen:
                continue
            seen.add(key)
        out.append(item)
    return out


# --- bucket version folders -------------------------------------------------------------------------


def _md5_of(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _verify(path: Path, expected: str | None, pmcid: str | None) -> None:
    if not expected:
        return
    actual = _md5_of(path)
    if actual != expected.lower():
        raise SourceError(f"md5 mismatch for {path}: metadata says {expected}, file has {actual}", pmcid=pmcid)


def _relative_to_version(obj: S3Object, stem: str) -> PurePosixPath:
    """The object's path inside its version folder ("PMC1.1/gr1.jpg" → "gr1.jpg"), refusing '..'."""
    key = PurePosixPath(obj.key)
    parts = key.parts[1:] if key.parts and key.parts[0] == stem else (key.name,)
    rel = PurePosixPath(*parts) if parts else PurePosixPath(obj.name)
    if rel.is_absolute() or ".." in rel.parts:
        raise SourceError(f"metadata names a file outside its folder: {obj.key!r}")
    return rel


def _left_out(bundle: ArticleBundle, path: Path, root: Path | None) -> bool:
    """True, with a warning in the bundle, for a media file that resolves outside the input."""
    if _escapes(path, root):
        bundle.warnings.append(f"{_outside_input(path)}: left out")
        return True
    return False


def _read_metadata_file(path: Path) -> bytes:
    with path.open("rb") as fh:  # one byte over the limit is enough for parse_metadata to refuse it
        return fh.read(MAX_METADATA_BYTES + 1)


def _bundle_from_version_dir(item: _Item) -> ArticleBundle:
    folder, stem, root = item.path, item.path.name, item.root
    pmcid, version = item.pmcid, item.version
    if _escapes(folder, root):
        raise SourceError(_outside_input(folder), pmcid=pmcid)
    bundle = ArticleBundle(source="local", xml_path=None, pmcid=pmcid, version=version, origin=str(folder))
    if item.skipped_versions:
        bundle.warnings.append(f"older versions skipped: {', '.join(sorted(item.skipped_versions))}")

    json_path, json_root = folder / f"{stem}.json", root
    if not json_path.is_file() and (folder.parent / "metadata" / f"{stem}.json").is_file():
        json_path = folder.parent / "metadata" / f"{stem}.json"  # the bucket's second copy
        if item.explicit:  # beside the folder the caller named, so outside it, but part of its layout
            json_root = folder.parent.resolve()
    meta: PmcMetadata | None = None
    if json_path.is_file():
        if _escapes(json_path, json_root):
            raise SourceError(_outside_input(json_path), pmcid=pmcid)
        try:
            meta = parse_metadata(_read_metadata_file(json_path))
        except ValueError as exc:
            raise SourceError(f"bad metadata JSON {json_path}: {exc}", pmcid=pmcid) from exc
        if (meta.pmcid, meta.version) != (pmcid, version):
            bundle.warnings.append(
                f"metadata JSON {json_path.name} describes {meta.pmcid}.{meta.version}; using it"
            )
            pmcid, version = meta.pmcid, meta.version
            bundle.pmcid, bundle.version = pmcid, version
    else:
        bundle.warnings.append(f"no metadata JSON for {stem}: checksums not verified")

    article_names = {f"{stem}.{ext}" for ext in ("xml", "json", "pdf", "txt")}
    if meta is not None:
        xml_name = _relative_to_version(meta.xml, stem) if meta.xml else PurePosixPath(f"{stem}.xml")
        xml_path = folder / xml_name
        if not xml_path.is_file():
            raise SourceError(f"article XML missing: {xml_path}", pmcid=pmcid)
        if _escapes(xml_path, root):
            raise SourceError(_outside_input(xml_path), pmcid=pmcid)
        _verify(xml_path, meta.xml.md5 if meta.xml else None, pmcid)
        bundle.xml_path = xml_path
        if meta.xml and meta.xml.md5:
            bundle.checksums[xml_path.name] = meta.xml.md5
        if meta.pdf:
            pdf_path = folder / _relative_to_version(meta.pdf, stem)
            try:
                if pdf_path.is_file() and not _left_out(bundle, pdf_path, root):
                    _verify(pdf_path, meta.pdf.md5, pmcid)
                    bundle.pdf_path = pdf_path
                    if meta.pdf.md5:
                        bundle.checksums[pdf_path.name] = meta.pdf.md5
            except SourceError as exc:  # the PDF is a convenience copy: the article is whole without it
                bundle.warnings.append(str(exc))
        for obj in meta.media:
            media_path = folder / _relative_to_version(obj, stem)
            if not media_path.is_file():
                why = f"{media_path.name} is listed in the metadata but missing from {folder}"
                bundle.warnings.append(why)
                bundle.missing[obj.name] = why
                continue
            if _left_out(bundle, media_path, root):
                bundle.missing[obj.name] = _outside_input(media_path)
                continue
            try:
                _verify(media_path, obj.md5, pmcid)
            except SourceError as exc:  # only the XML is the article: without this file it is partial
                bundle.warnings.append(str(exc))
                bundle.missing[obj.name] = str(exc)
                continue
            bundle.files[obj.name] = media_path
            if obj.md5:
                bundle.checksums[obj.name] = obj.md5
        if not meta.media:  # an older/partial JSON without media_urls: take what the folder holds
            for path in _siblings(folder):
                if path.name not in article_names and not _left_out(bundle, path, root):
                    bundle.files.setdefault(path.name, path)
        bundle.pmid, bundle.doi, bundle.title = meta.pmid, meta.doi, meta.title
        bundle.license_code = normalise_license(meta.license_code) or meta.license_code
        bundle.retracted = meta.is_retracted
        bundle.is_manuscript = meta.is_manuscript
    else:
        xml_path = folder / f"{stem}.xml"
        if not xml_path.is_file():
            raise SourceError(f"article XML missing: {xml_path}", pmcid=pmcid)
        if _escapes(xml_path, root):
            raise SourceError(_outside_input(xml_path), pmcid=pmcid)
        bundle.xml_path = xml_path
        pdf_path = folder / f"{stem}.pdf"
        bundle.pdf_path = pdf_path if pdf_path.is_file() and not _left_out(bundle, pdf_path, root) else None
        for path in _siblings(folder):
            if path.name not in article_names and not _left_out(bundle, path, root):
                bundle.files[path.name] = path
    return bundle


# --- OA packages ------------------------------------------------------------------------------------


def _check_members(members: list[tarfile.TarInfo], archive: Path) -> None:
    """Refuse the whole package on the first unsafe member: OA packages hold only plain files and
    folders with relative names, so anything else is damage or an attack."""
    total = 0
    if len(members) > MAX_PACKAGE_MEMBERS:
        raise SourceError(f"unsafe package {archive.name}: {len(members)} members (limit {MAX_PACKAGE_MEMBERS})")
    for m in members:
        name = m.name
        if name.startswith(("/", "\\")) or PureWindowsPath(name).drive or PureWindowsPath(name).root:
            raise SourceError(f"unsafe package {archive.name}: member {name!r} has an absolute path")
        if ".." in PurePosixPath(name.replace("\\", "/")).parts:
            raise SourceError(f"unsafe package {archive.name}: member {name!r} escapes with '..'")
        if m.issym():
            raise SourceError(f"unsafe package {archive.name}: member {name!r} is a symlink to {m.linkname!r}")
        if m.islnk():
            raise SourceError(f"unsafe package {archive.name}: member {name!r} is a hard link to {m.linkname!r}")
        if not (m.isfile() or m.isdir()):
            raise SourceError(f"unsafe package {archive.name}: member {name!r} is a device, fifo or other special file")
        total += max(m.size, 0)
        if total > MAX_PACKAGE_BYTES:
            raise SourceError(f"unsafe package {archive.name}: unpacks to more than {MAX_PACKAGE_BYTES} bytes")


def _package_stem(archive: Path) -> str:
    name = archive.name
    for suffix in PACKAGE_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80] or "package"


def _extract(archive: Path, workdir: Path) -> Path:
    packages = workdir / "packages"
    packages.mkdir(parents=True, exist_ok=True)
    dest = Path(tempfile.mkdtemp(prefix=f"{_package_stem(archive)}-", dir=packages))
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            _check_members(members, archive)
            # second line of defence: the data filter refuses links/paths outside dest, devices
            tar.extractall(dest, members=members, filter="data")
    except SourceError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    except tarfile.FilterError as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise SourceError(f"unsafe package {archive.name}: {exc}") from exc
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        full = as_disk_full(exc, dest)  # before the clean-up frees the space
        shutil.rmtree(dest, ignore_errors=True)
        if isinstance(full, DiskFull):
            raise full from exc
        raise SourceError(f"unreadable package {archive}: {exc}") from exc
    return dest


def _all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def _pick_article_pdf(pdfs: list[Path], xml_path: Path) -> Path | None:
    stem = xml_path.name.rsplit(".", 1)[0]
    for pdf in pdfs:
        if pdf.name.rsplit(".", 1)[0] == stem:
            return pdf
    return pdfs[0] if len(pdfs) == 1 else None


def _attach_folder(bundle: ArticleBundle, xml_path: Path, files: list[Path], root: Path | None) -> None:
    """Fill pdf, licence and files of a bundle from the files of its (extracted) package folder."""
    # a dangling link (or a loop) is no file; one that leads outside the input is not read
    files = [p for p in files if p == xml_path or (p.is_file() and (_is_xml(p) or not _left_out(bundle, p, root)))]
    pdfs = [p for p in files if p.suffix.lower() == ".pdf" and p.parent == xml_path.parent]
    bundle.pdf_path = _pick_article_pdf(pdfs, xml_path)
    for path in files:
        if path == xml_path or path == bundle.pdf_path or _is_xml(path):
            continue
        if path.name.lower() in _NOT_MEDIA_NAMES:
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            # 2013-era license.txt only points at the XML; newer ones name the licence
            bundle.license_code = normalise_license(text) or bundle.license_code
            continue
        if path.name in bundle.files and bundle.files[path.name] != path:
            bundle.warnings.append(f"two files named {path.name}: kept {bundle.files[path.name]}")
            continue
        bundle.files[path.name] = path


def _bundle_from_package(item: _Item, workdir: Path) -> ArticleBundle:
    archive = item.path
    if _escapes(archive, item.root):
        raise SourceError(_outside_input(archive), pmcid=item.pmcid)
    dest = _extract(archive, workdir)
    files = _all_files(dest)
    xmls = [p for p in files if p.name.lower().endswith(".nxml")] or [
        p for p in files if p.name.lower().endswith(".xml")
    ]
    if not xmls:
        raise SourceError(f"package {archive} holds no .nxml article", pmcid=item.pmcid)
    xml_path = max(xmls, key=lambda p: (p.stat().st_size, p.name))  # the article, not a stray fragment
    pmcid, version = item.pmcid, item.version
    if pmcid is None:  # new-style packages are named PMCnnnn inside
        for part in xml_path.relative_to(dest).parts:
            pmcid, version = _id_from_name(part)
            if pmcid:
                break
    bundle = ArticleBundle(
        source="package", xml_path=xml_path, pmcid=pmcid, version=version, origin=str(archive)
    )
    if len(xmls) > 1:
        bundle.warnings.append(f"package has {len(xmls)} XML files; using {xml_path.name}")
    _attach_folder(bundle, xml_path, files, dest)
    return bundle


# --- bare XML files ---------------------------------------------------------------------------------


def _looks_like_jats(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError:
        return False
    return sniff_jats(head).has_article  # UTF-16 too


def _looks_like_xml(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(1024)
    except OSError:
        return False
    return sniff_jats(head).is_xml


def _bundle_from_xml(item: _Item) -> ArticleBundle | None:
    path = item.path
    if not item.explicit and _escapes(path, item.root):
        raise SourceError(_outside_input(path), pmcid=item.pmcid)
    if not _looks_like_jats(path):
        # .nxml is JATS by definition, and a file that is not even XML is broken input: both are
        # reported. Other well-formed XML met while walking (inventories, listings) is not an article.
        if item.explicit or path.suffix.lower() == ".nxml" or not _looks_like_xml(path):
            raise SourceError(f"{path} is not a JATS article (no <article> element near the start)")
        return None
    bundle = ArticleBundle(source="xml", xml_path=path, pmcid=item.pmcid, version=item.version, origin=str(path))
    _attach_folder(bundle, path, item.siblings, item.root)
    return bundle
