"""Map a JATS `<graphic xlink:href>` to one of an article bundle's files.

Hrefs rarely name the file exactly: in OA packages most have no extension (651 of 788 graphics in our
nxml set, e.g. `pone.0012255.g001`) and the package holds both a `.jpg` and a small `.gif` thumbnail
for the same stem. Some hrefs carry a directory part or a different case, and some name a `.tif` that
PMC converted to `.jpg`. Matching order: exact name, case-insensitive name, then stem with a
preference for web raster formats.
"""

from __future__ import annotations

from pathlib import Path

# Best first: the full-size web rasters PMC ships, then thumbnails (.gif) and print masters (.tif).
PREFERRED_EXTENSIONS: tuple[str, ...] = ("jpg", "jpeg", "png", "gif", "tif", "tiff")
# Endings that mark a real extension; anything else after the last dot is part of the stem
# ("pone.0012255.g001" has no extension, its "suffix" .g001 is part of the name).
KNOWN_EXTENSIONS: frozenset[str] = frozenset(
    PREFERRED_EXTENSIONS
    + ("bmp", "webp", "svg", "eps", "ps", "pdf", "jp2", "jpx", "pct", "pict", "wmf", "emf", "sml")
)


def _basename(name: str) -> str:
    # hrefs may use either separator and may carry a directory ("figures/fig1.jpg")
    return name.replace("\\", "/").rsplit("/", 1)[-1].strip()


def _split_extension(name: str) -> tuple[str, str | None]:
    """'fig1.JPG' → ('fig1', 'jpg'); 'pone.0012255.g001' → ('pone.0012255.g001', None)."""
    stem, dot, ext = name.rpartition(".")
    if dot and stem and ext.lower() in KNOWN_EXTENSIONS:
        return stem, ext.lower()
    return name, None


def _rank(ext: str | None) -> int:
    if ext in PREFERRED_EXTENSIONS:
        return PREFERRED_EXTENSIONS.index(ext)
    return len(PREFERRED_EXTENSIONS)


def match_graphic(href: str, files: dict[str, Path]) -> str | None:
    """Return the key of `files` that `href` refers to, or None when no file matches.

    1. exact key; 2. same file name ignoring directories and case; 3. same stem (href without an
    extension, or with one whose file is missing, e.g. `.tif` converted to `.jpg`), preferring
    jpg > jpeg > png > gif > tif > tiff > anything else, so a `.gif` thumbnail loses to its `.jpg`.
    """
    if not href or not files:
        return None
    if href in files:
        return href
    name = _basename(href)
    if not name:
        return None
    lowered = name.lower()

    by_name: dict[str, str] = {}
    for key in sorted(files):  # sorted: deterministic when two keys differ only by directory
        by_name.setdefault(_basename(key).lower(), key)
    if lowered in by_name:
        return by_name[lowered]

    stem, _ext = _split_extension(lowered)  # a named extension that is missing falls back to stem
    candidates: list[tuple[int, str, str]] = []
    for base, key in by_name.items():
        cand_stem, cand_ext = _split_extension(base)
        if cand_ext is None:
            continue
        if cand_stem == stem:
            candidates.append((_rank(cand_ext), base, key))
    if not candidates:
        return None
    candidates.sort()
    return candidates[0][2]
