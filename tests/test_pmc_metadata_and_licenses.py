"""The bucket's metadata JSON (real documented samples) and licence normalisation."""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester.licenses import license_allowed, license_class, normalise_license
from harvester.sources.pmc_metadata import normalise_pmcid, parse_metadata, parse_s3_url

SAMPLES = Path(__file__).parent / "fixtures" / "oa-service" / "s3_cloud"


def test_documented_metadata_json_with_media():
    meta = parse_metadata((SAMPLES / "PMC12855588.1.json").read_bytes())
    assert (meta.pmcid, meta.version, meta.pmid, meta.license_code) == ("PMC12855588", 1, "41623473", "CC BY")
    assert meta.xml.key == "PMC12855588.1/PMC12855588.1.xml" and meta.xml.md5 == "99210445a56f3315af7e95797556bd6b"
    assert [m.name for m in meta.media] == ["fx1.jpg", "gr1.jpg", "gr2.jpg", "mmc1.pdf"]
    assert meta.pdf is not None and not meta.is_retracted and not meta.is_manuscript


def test_metadata_without_media_and_bad_input():
    meta = parse_metadata((SAMPLES / "PMC7759461.1.json").read_text())
    assert meta.media == [] and meta.pdf.name == "PMC7759461.1.pdf"
    with pytest.raises(ValueError, match="not JSON"):
        parse_metadata(b"<html>")
    with pytest.raises(ValueError, match="pmcid"):
        parse_metadata(b"{}")


def test_s3_urls_and_pmcids():
    assert parse_s3_url("s3://pmc-oa-opendata/PMC1.2/gr1.jpg?md5=ABCDEF0123456789abcdef0123456789").md5 == (
        "abcdef0123456789abcdef0123456789"
    )
    assert parse_s3_url("s3://pmc-oa-opendata/PMC1.2/gr1.jpg?md5=nothex").md5 is None
    assert normalise_pmcid("pmc123") == normalise_pmcid("123") == normalise_pmcid("PMC123.4") == "PMC123"
    with pytest.raises(ValueError):
        normalise_pmcid("10.1371/journal.pone.0012255")


@pytest.mark.parametrize(
    "raw, code",
    [
        ("CC BY", "CC BY"),
        ("CC-BY", "CC BY"),
        ("cc by-nc-sa", "CC BY-NC-SA"),
        ("http://creativecommons.org/licenses/by-nc-nd/4.0/", "CC BY-NC-ND"),
        ("https://creativecommons.org/licenses/by/3.0/igo/", "CC BY"),
        ("https://creativecommons.org/publicdomain/zero/1.0/", "CC0"),
        ("This is an open-access article distributed under the terms of the Creative Commons Attribution "
         "License, which permits unrestricted use", "CC BY"),
        ("Creative Commons Attribution-NonCommercial-NoDerivatives 4.0 International", "CC BY-NC-ND"),
        ("NO-CC CODE", "NO-CC CODE"),
        ("", None),
        ("All rights reserved", None),
    ],
)
def test_licence_codes(raw, code):
    assert normalise_license(raw) == code


def test_licence_filter():
    assert license_class("CC BY") == "commercial" and license_class("CC BY-NC") == "noncommercial"
    assert license_allowed("CC0", "commercial") and not license_allowed("CC BY-NC-ND", "commercial")
    assert license_allowed("CC BY-NC-ND", "noncommercial") and license_allowed("CC BY", "noncommercial")
    assert not license_allowed(None, "commercial") and license_allowed(None, "any")
    with pytest.raises(ValueError):
        license_allowed("CC BY", "free")
