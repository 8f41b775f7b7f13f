"""Europe PMC as second source, against a loopback server serving real JATS and real JPEGs."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.http_stub import HttpStub, StubResponse

from figmine.settings import Settings
from harvester.http import RetryPolicy, make_client
from harvester.records import SourceError
from harvester.sources.europepmc import EuropePmcSource, figure_file_name, graphic_hrefs

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PONE = FIXTURES / "s3_mirror_src" / "PMC2924383"
EPMC_XML = FIXTURES / "europepmc_source" / "PMC13238370.xml"
REST = "/europepmc/webservices/rest"
FAST = RetryPolicy(attempts=3, initial_delay=0.02, jitter=0.0)
XML_TYPE = {"Content-Type": "application/xml;charset=UTF-8"}
JPEG_TYPE = {"Content-Type": "image/jpeg"}
PONE_FIGS = [f"pone.0012255.g00{i}" for i in range(1, 5)]


def jpeg(i: int) -> bytes:
    return (PONE / f"pone.0012255.g00{i}.jpg").read_bytes()


@pytest.fixture
def stub() -> Iterator[HttpStub]:
    with HttpStub() as s:
        yield s


@pytest.fixture
def source(stub: HttpStub, tmp_path: Path) -> EuropePmcSource:
    settings = Settings(FIGMINE_EUROPEPMC_URL=f"{stub.url}{REST}", FIGMINE_EUROPEPMC_FIGURES_URL=f"{stub.url}/articles")
    return EuropePmcSource(tmp_path / "work", settings=settings, client=make_client(settings=settings), policy=FAST)


def serve_pone(stub: HttpStub, *, skip: tuple[int, ...] = ()) -> None:
    stub.route(f"{REST}/PMC2924383/fullTextXML", StubResponse(200, (PONE / "pone.0012255.nxml").read_bytes(), XML_TYPE))
    for i in range(1, 5):
        if i not in skip:
            stub.route(f"/articles/PMC2924383/bin/pone.0012255.g00{i}.jpg", StubResponse(200, jpeg(i), JPEG_TYPE))


def test_fetch_gets_xml_and_every_figure(stub: HttpStub, source: EuropePmcSource) -> None:
    serve_pone(stub)
    bundle = source.fetch("pmc2924383")
    assert (bundle.source, bundle.pmcid) == ("europepmc", "PMC2924383")
    assert bundle.xml_path.read_bytes() == (PONE / "pone.0012255.nxml").read_bytes()
    assert sorted(bundle.files) == [f"{h}.jpg" for h in PONE_FIGS]
    for i, name in enumerate(sorted(bundle.files), start=1):
        assert bundle.files[name].read_bytes() == jpeg(i), f"{name} differs from what was served"
    assert (bundle.pmid, bundle.doi, bundle.title) == ("20808861", "10.1371/journal.pone.0012255",
                                                       "Sounds Move a Static Visual Object")
    assert bundle.origin.endswith("/PMC2924383/fullTextXML") and bundle.warnings == []


def test_hrefs_with_extensions_from_a_real_europepmc_document(stub: HttpStub, source: EuropePmcSource) -> None:
    hrefs = graphic_hrefs(EPMC_XML)
    assert len(hrefs) == 8 and all(h.startswith("AHE-55-e70140-g00") and h.endswith(".jpg") for h in hrefs)
    assert figure_file_name("AHE-55-e70140-g003.jpg") == "AHE-55-e70140-g003.jpg"
    stub.route(f"{REST}/PMC13238370/fullTextXML", StubResponse(200, EPMC_XML.read_bytes(), XML_TYPE))
    for n, href in enumerate(hrefs):
        stub.route(f"/articles/PMC13238370/bin/{href}", StubResponse(200, jpeg(n % 4 + 1), JPEG_TYPE))
    bundle = source.fetch("PMC13238370")
    assert sorted(bundle.files) == sorted(hrefs)
    assert (bundle.pmid, bundle.doi) == ("42246441", "10.1111/ahe.70140")


def test_missing_full_text_is_a_non_retriable_source_error(stub: HttpStub, source: EuropePmcSource) -> None:
    stub.route(f"{REST}/PMC1/fullTextXML", StubResponse(404, "", XML_TYPE))
    with pytest.raises(SourceError, match=r"PMC1: Europe PMC has no full-text XML \(404") as err:
        source.fetch("PMC1")
    assert err.value.retriable is False
    assert not (source.work_dir / "PMC1.europepmc").exists()


def test_server_errors_are_retried(stub: HttpStub, source: EuropePmcSource) -> None:
    serve_pone(stub)
    stub.route(f"{REST}/PMC2924383/fullTextXML", [
        StubResponse(503), StubResponse(500),
        StubResponse(200, (PONE / "pone.0012255.nxml").read_bytes(), XML_TYPE)])
    assert len(source.fetch("PMC2924383").files) == 4
    assert len(stub.requests_to(f"{REST}/PMC2924383/fullTextXML")) == 3


def test_persistent_server_errors_are_a_retriable_source_error(stub: HttpStub,
                                                                 source: EuropePmcSource) -> None:
    stub.route(f"{REST}/PMC2924383/fullTextXML", StubResponse(502))
    with pytest.raises(SourceError, match="HTTP 502") as err:
        source.fetch("PMC2924383")
    assert err.value.retriable is True


def test_html_instead_of_xml_is_rejected(stub: HttpStub, source: EuropePmcSource) -> None:
    page = "<!DOCTYPE html><html><body>Just a moment...</body></html>"
    stub.route(f"{REST}/PMC2924383/fullTextXML", StubResponse(200, page, {"Content-Type": "text/html"}))
    with pytest.raises(SourceError, match="an HTML page, not article XML"):
        source.fetch("PMC2924383")


def test_figures_the_web_path_refuses_come_from_the_supplementary_archive(stub: HttpStub,
                                                                          source: EuropePmcSource) -> None:
    serve_pone(stub, skip=(2, 3))
    # g002: a challenge page with status 200; g003: 404. Both are in the archive, beside a supplement.
    stub.route("/articles/PMC2924383/bin/pone.0012255.g002.jpg",
               StubResponse(200, "<html>challenge</html>", {"Content-Type": "text/html"}))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("pone.0012255.g002.jpg", jpeg(2))
        z.writestr("nested/pone.0012255.g003.jpg", jpeg(3))
        z.writestr("pone.0012255.s001.tif", b"II*\x00 supplementary")
    stub.route(f"{REST}/PMC2924383/supplementaryFiles",
               StubResponse(200, archive.getvalue(), {"Content-Type": "application/zip"}))

    bundle = source.fetch("PMC2924383")
    assert sorted(bundle.files) == [f"{h}.jpg" for h in PONE_FIGS]
    assert hashlib.md5(bundle.files["pone.0012255.g003.jpg"].read_bytes()).hexdigest() == \
        hashlib.md5(jpeg(3)).hexdigest()
    assert bundle.warnings == []
    call = stub.requests_to(f"{REST}/PMC2924383/supplementaryFiles")[0]
    assert call.param("includeInlineImage") == "true"
    assert sorted(p.name for p in bundle.xml_path.parent.iterdir()) == sorted(
        ["PMC2924383.xml", *[f"{h}.jpg" for h in PONE_FIGS]]), "archive or temp files left behind"


def test_figures_found_nowhere_are_warnings(stub: HttpStub, source: EuropePmcSource) -> None:
    serve_pone(stub, skip=(4,))
    bundle = source.fetch("PMC2924383")
    assert sorted(bundle.files) == [f"{h}.jpg" for h in PONE_FIGS[:3]]
    assert len(bundle.warnings) == 1 and "figure pone.0012255.g004 not available" in bundle.warnings[0]
