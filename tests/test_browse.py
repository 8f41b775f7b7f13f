"""The browse page (api/routes/browse.py) on real ingested articles: server-rendered HTML checked
against the JSON API, and the same pages driven in real headless Chromium (Debian's `chromium`
through Playwright's Python client, no browser download).

The corpus: the OA packages and JATS files under tests/fixtures, ingested with `figmine ingest
--no-detect`, plus what the detector and caption stages would add: panels on every figure that has
an image (three on one of them), subcaptions tied to panels, a modality and a concept. One figure's
caption, subcaption and citance are then replaced by hostile HTML, as a caption from the internet
could be.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import lxml.html
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from support.api_corpus import ingested_corpus
from store.models import (
    Article,
    Citance,
    CitanceFigure,
    Concept,
    ConceptMention,
    Export,
    Figure,
    Modality,
    Subcaption,
    Subfigure,
)

XSS_CAPTION = 'Hostile caption <script>window.__xss = "caption"</script> <b>bold?</b> & more'
XSS_SUBCAPTION = '<img src="x" onerror="window.__xss = \'subcaption\'">panel A'
XSS_CITANCE = 'As shown in Figure 1B <script>window.__xss = "citance"</script> the cells grow.'




def _enrich(session: Session) -> dict:
    """Panels, subcaption links, a modality and a concept on the real figures; one hostile figure."""
    from store.modalities import ensure_taxonomy

    ids = ensure_taxonomy(session)
    ct, chart = session.get(Modality, ids["radiology.ct"]), session.get(Modality, ids["graphics.chart"])
    concept = Concept(vocab="MSH", code="D002477", name="Cells", semantic_types=["T025"])
    session.add(concept)
    session.flush()

    # articles are ingested concurrently: name the figures, not their ids
    rows = session.execute(
        select(Figure, Article.pmcid).join(Article, Article.id == Figure.article_id)
        .where(Figure.image_key.is_not(None)).order_by(Figure.id)
    ).all()
    figures = [fig for fig, _ in rows]
    named = {(pmcid, fig.label): fig for fig, pmcid in rows}
    three, hostile = named["PMC2924383", "Figure 2"], named["PMC2924383", "Figure 1"]
    panels: dict[int, int] = {}
    for fig in figures:
        w, h = fig.width, fig.height
        if fig is three:  # three panels side by side, labelled
            cuts = [(0, w // 3), (w // 3, 2 * w // 3), (2 * w // 3, w)]
        else:  # left and right halves
            cuts = [(0, w // 2), (w // 2, w)]
        boxes = []
        for ordinal, (x1, x2) in enumerate(cuts):
            sf = Subfigure(figure_id=fig.id, ordinal=ordinal, x1=x1, y1=0, x2=x2, y2=h, score=0.9, method="xycut",
                           label="ABC"[ordinal], modality_id=chart.id if ordinal == 1 else None, modality_score=0.7)
            session.add(sf)
            boxes.append(sf)
        session.flush()
        fig.is_compound, fig.n_panels = True, len(cuts)
        fig.modality_id, fig.modality_score = ct.id, 0.8
        for sc in session.execute(select(Subcaption).where(Subcaption.figure_id == fig.id)).scalars():
            sc.subfigure_id = {b.label: b.id for b in boxes}.get((sc.label or "").strip("()").upper())
        panels[fig.id] = len(cuts)
    session.execute(text("UPDATE figures SET is_compound = false, n_panels = 1 WHERE image_key IS NULL"))
    for fid, caption in session.execute(
        select(Figure.id, Figure.caption_text).where(Figure.caption_text.ilike("%cells%"))
    ).all():
        start = caption.lower().index("cells")
        session.add(ConceptMention(concept_id=concept.id, figure_id=fid, field="caption", start=start,
                                   end=start + 5, text=caption[start:start + 5]))

    hostile.caption_text = XSS_CAPTION
    hostile.caption_title = None
    first_panel = session.execute(
        select(Subfigure).where(Subfigure.figure_id == hostile.id).order_by(Subfigure.ordinal).limit(1)
    ).scalar_one()
    session.add(Subcaption(figure_id=hostile.id, subfigure_id=first_panel.id, ordinal=0, label="A",
                           text=XSS_SUBCAPTION, full_text=XSS_SUBCAPTION))
    citance = Citance(article_id=hostile.article_id, ordinal=10_000, text=XSS_CITANCE, section="Results")
    session.add(citance)
    session.flush()
    session.add(CitanceFigure(citance_id=citance.id, figure_id=hostile.id, panels=["B"]))
    return {"panels": panels, "hostile": hostile.id, "three": three.id}


@pytest.fixture(scope="module")
def corpus(pg_url, tmp_path_factory):
    with ingested_corpus(pg_url, tmp_path_factory.mktemp("browse-home"), _enrich, ingest_options=("--no-detect",)) as info:
        yield info


@pytest.fixture(scope="module")
def client(corpus):
    from api.app import create_app

    with TestClient(create_app()) as c:
        yield c


def html(r) -> lxml.html.HtmlElement:
    assert r.headers["content-type"].startswith("text/html"), r.headers["content-type"]
    return lxml.html.fromstring(r.text)


def gallery_ids(doc) -> list[int]:
    return [int(x) for x in doc.xpath('//ul[@id="gallery"]/li/@data-figure-id')]


def next_href(doc) -> str | None:
    hrefs = doc.xpath('//a[@id="next-page"]/@href')
    return hrefs[0] if hrefs else None


def walk_pages(client, url: str) -> tuple[list[int], int]:
    """Every figure id of a search, following the page's "next page" links."""
    ids, pages = [], 0
    while url:
        r = client.get(url)
        assert r.status_code == 200, r.text
        doc = html(r)
        ids.extend(gallery_ids(doc))
        pages += 1
        url = next_href(doc)
        assert pages < 500, "pagination does not end"
    return ids, pages


def api_ids(client, params: dict) -> list[int]:
    body = client.get("/figures", params={**params, "limit": 500}).json()
    assert body["next_cursor"] is None
    return [i["id"] for i in body["items"]]


# -- the search page ----------------------------------------------------------------------------
def test_home_redirects_to_the_search_page(client):
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/browse"


def test_search_page_shows_what_the_api_lists_in_the_same_order(client, corpus):
    for params in [{}, {"q": "cells"}, {"q": "visual OR motion OR glycogen"}]:
        r = client.get("/browse", params={**params, "limit": 100})
        assert r.status_code == 200, r.text
        doc = html(r)
        assert gallery_ids(doc) == api_ids(client, params)[:100], f"gallery differs from GET /figures for {params}"
        if params:
            assert doc.xpath('//input[@name="q"]/@value') == [params["q"]], "the search box keeps the query"
    assert "default-src 'self'" in r.headers["content-security-policy"]


def test_next_page_links_use_the_api_cursor_and_cover_every_match_once(client, corpus):
    for params in ["q=cells&limit=2", "limit=7", "compound=true&limit=3"]:
        ids, pages = walk_pages(client, f"/browse?{params}")
        api = api_ids(client, {k: v for k, v in parse_qsl(params) if k != "limit"})
        assert ids == api, f"pages of /browse?{params} differ from GET /figures"
        assert len(set(ids)) == len(ids) and pages == -(-len(ids) // int(dict(parse_qsl(params))["limit"]))
    # the page's cursor is the API's: it pages GET /figures too
    doc = html(client.get("/browse", params={"q": "cells", "limit": 2}))
    cursor = dict(parse_qsl(urlsplit(next_href(doc)).query))["cursor"]
    second = client.get("/figures", params={"q": "cells", "limit": 2, "cursor": cursor})
    assert second.status_code == 200
    assert [i["id"] for i in second.json()["items"]] == api_ids(client, {"q": "cells"})[2:4]


@pytest.mark.parametrize("params", [
    {"modality": "radiology"},
    {"modality": "graphics"},
    {"concept": "D002477"},
    {"concept": "cells"},
    {"license": "commercial"},
    {"year_from": "2012", "year_to": "2020"},
    {"journal": "plos one"},
    {"pmcid": "PMC2958805"},
    {"compound": "false"},
    {"min_panels": "3"},
    {"has_citances": "true"},
    {"min_width": "600", "min_height": "300"},
    {"q": "cells", "modality": "radiology.ct", "has_citances": "true"},
])
def test_filters_select_what_the_api_selects(client, corpus, params):
    doc = html(client.get("/browse", params={**params, "limit": 100}))
    expected = api_ids(client, params)
    assert gallery_ids(doc) == expected[:100], f"filter {params}"
    assert expected or doc.xpath('//*[@id="no-results"]'), "an empty result says so"
    for name, value in params.items():
        if name in ("compound", "has_citances"):
            assert doc.xpath(f'//select[@name="{name}"]/option[@selected]/@value') == [value]
        else:
            assert value in doc.xpath(f'//input[@name="{name}"]/@value'), f"the form shows {name}={value} again"


def test_empty_form_fields_are_ignored_and_bad_values_explained(client, corpus):
    empty = "q=&modality=&concept=&year_from=&year_to=&compound=&min_panels=&has_citances=&journal="
    assert gallery_ids(html(client.get(f"/browse?{empty}&limit=100"))) == api_ids(client, {})[:100]
    bad_limit = client.get("/browse?limit=1000")
    assert bad_limit.status_code == 422 and not html(bad_limit).xpath('//ul[@id="gallery"]')
    r = client.get("/browse?year_from=last+year&min_panels=-1")
    assert r.status_code == 422
    errors = " ".join(html(r).xpath('//div[@class="errors"]//li/text()'))
    assert "year_from" in errors and "min_panels" in errors
    stale = client.get("/browse", params={"q": "motion", "cursor": "bm90IGEgY3Vyc29y"})
    assert stale.status_code == 422 and "first page" in stale.text


def test_total_is_counted_on_request(client, corpus):
    doc = html(client.get("/browse", params={"q": "cells"}))
    link = doc.xpath('//span[@id="result-count"]/a/@href')
    assert link, "a link offers to count the matches"
    counted = html(client.get(link[0]))
    n = client.get("/figures", params={"q": "cells", "total": "true"}).json()["total"]
    assert f"{n:,} figure" in counted.xpath('string(//span[@id="result-count"])')


def test_export_panel_carries_the_normalised_query(client, corpus):
    doc = html(client.get("/browse", params={"q": " cells ", "license": "commercial", "year_from": "2010",
                                             "compound": "true", "journal": ""}))
    filters = json.loads(doc.xpath('//script[@id="export-filters"]/text()')[0])
    assert filters == {"q": "cells", "license": ["commercial"], "year_from": 2010, "compound": True}
    doc = html(client.get("/browse", params={"compound": "false", "has_citances": "false"}))
    assert json.loads(doc.xpath('//script[@id="export-filters"]/text()')[0]) == {
        "compound": False, "has_citances": False}, "a 'no' is a filter too"
    assert doc.xpath('//input[@id="export-key"][@type="password"]'), "the page asks for the API key"
    assert "API key" in doc.xpath('string(//section[@id="export"])')


def test_gallery_thumbnails_are_small_cached_jpegs(client, corpus):
    doc = html(client.get("/browse", params={"compound": "true", "limit": 100}))  # the figures with images
    srcs = doc.xpath('//ul[@id="gallery"]//img/@src')
    assert len(srcs) == len(corpus["panels"]), "every figure with an image has a thumbnail"
    for src in srcs[:3]:
        r = client.get(src)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert r.headers["cache-control"].startswith("public") and r.headers["etag"]
        picture = Image.open(io.BytesIO(r.content))
        assert picture.format == "JPEG" and max(picture.size) <= 320
        assert client.get(src, headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    fid = next(iter(corpus["panels"]))
    with Session(corpus["engine"]) as s:
        w, h = s.execute(select(Figure.width, Figure.height).where(Figure.id == fid)).one()
    big = Image.open(io.BytesIO(client.get(f"/browse/figures/{fid}/thumbnail?max_side=2048").content))
    assert big.size == (w, h), "a thumbnail is never enlarged"
    small = Image.open(io.BytesIO(client.get(f"/browse/figures/{fid}/thumbnail?max_side=64").content))
    assert max(small.size) == 64 and abs(small.size[0] / small.size[1] - w / h) < 0.05
    assert client.get(f"/browse/figures/{fid}/thumbnail?max_side=5000").status_code == 422
    assert client.get("/browse/figures/999999/thumbnail").status_code == 404
    with Session(corpus["engine"]) as s:
        no_image = s.scalar(select(Figure.id).where(Figure.image_key.is_(None)).limit(1))
    assert client.get(f"/browse/figures/{no_image}/thumbnail").status_code == 404


def test_thumbnails_snap_to_fixed_sizes_made_once_into_the_blob_store(client, corpus, monkeypatch):
    import api.images as api_images
    import api.routes.browse as browse_routes

    with Session(corpus["engine"]) as s:
        fid, w, h, sha, key = s.execute(
            select(Figure.id, Figure.width, Figure.height, Figure.sha256, Figure.image_key)
            .where(Figure.image_key.is_not(None)).order_by(Figure.width.desc()).limit(1)).one()
    assert max(w, h) > 320
    decodes: list[int] = []
    real_load = api_images.load_image

    def counting_load(*args, **kwargs):
        decodes.append(kwargs["max_side"])
        return real_load(*args, **kwargs)

    monkeypatch.setattr(api_images, "load_image", counting_load)
    monkeypatch.setattr(browse_routes, "thumbnails", api_images.ThumbnailCache())  # nothing made yet
    answers = {side: client.get(f"/browse/figures/{fid}/thumbnail?max_side={side}") for side in (300, 320, 340, 150)}
    assert all(r.status_code == 200 for r in answers.values())
    assert len({answers[side].headers["etag"] for side in (300, 320, 340)}) == 1, "300 and 340 snap to 320"
    assert answers[300].content == answers[340].content
    assert max(Image.open(io.BytesIO(answers[320].content)).size) == 320
    assert max(Image.open(io.BytesIO(answers[150].content)).size) == 160
    assert decodes == [320, 160], "one decode per fixed size"
    blobs = client.app.state.blobs
    assert blobs.open(api_images.thumbnail_key(sha, key, 320)) == answers[320].content
    # another process (an empty memory cache) serves them from the blob store without decoding
    monkeypatch.setattr(browse_routes, "thumbnails", api_images.ThumbnailCache())
    again = client.get(f"/browse/figures/{fid}/thumbnail?max_side=330")
    assert again.content == answers[320].content and decodes == [320, 160]


# -- the figure page ----------------------------------------------------------------------------
def test_figure_page_draws_every_stored_panel_scaled_to_the_figure(client, corpus):
    fid = corpus["three"]
    doc = html(client.get(f"/browse/figures/{fid}"))
    with Session(corpus["engine"]) as s:
        fig = s.get(Figure, fid)
        stored = s.execute(
            select(Subfigure).where(Subfigure.figure_id == fid).order_by(Subfigure.ordinal)
        ).scalars().all()
        size = (fig.width, fig.height)
    svg = doc.xpath('//svg[@id="panel-overlay"]')[0]
    assert svg.get("viewbox", svg.get("viewBox")) == f"0 0 {size[0]} {size[1]}"
    boxes = svg.xpath('.//g[@class="panel-box"]')
    assert len(boxes) == len(stored) == 3
    for g, sf in zip(boxes, stored, strict=True):
        rect = g.xpath("./rect")[0]
        assert (int(rect.get("x")), int(rect.get("y")), int(rect.get("width")), int(rect.get("height"))) == (
            sf.x1, sf.y1, sf.x2 - sf.x1, sf.y2 - sf.y1)
        assert g.get("data-label") == sf.label and g.xpath("string(./text)") == sf.label
    assert len(doc.xpath('//ol[@class="panel-list"]/li')) == 3
    img = doc.xpath('//img[@id="figure-image"]')[0]
    assert img.get("src") == f"/browse/figures/{fid}/thumbnail?max_side=1600"
    assert client.get(img.get("src")).status_code == 200


def test_figure_page_shows_subcaptions_citances_and_chips(client, corpus):
    # PMC2924383 Figure 2: two subcaptions (A), (B) and citances naming panels a and b ('Fig. 2a')
    with Session(corpus["engine"]) as s:
        fid = s.execute(text(
            "SELECT f.id FROM figures f JOIN articles a ON a.id = f.article_id "
            "WHERE a.pmcid = 'PMC2924383' AND f.label = 'Figure 2'")).scalar_one()
        subcaptions = s.execute(select(Subcaption.text).where(Subcaption.figure_id == fid)
                                .order_by(Subcaption.ordinal)).scalars().all()
        cited = s.execute(select(CitanceFigure.panels).join(Citance, Citance.id == CitanceFigure.citance_id)
                          .where(CitanceFigure.figure_id == fid).order_by(Citance.ordinal, Citance.id)).scalars().all()
    detail = client.get(f"/figures/{fid}").json()
    doc = html(client.get(f"/browse/figures/{fid}"))
    shown = [t.strip() for t in doc.xpath('//section[@id="subcaptions"]//span[@class="subcaption-text"]/text()')]
    assert shown == subcaptions and len(shown) == 2
    citances = doc.xpath('//section[@id="citances"]/ul/li')
    assert len(citances) == len(detail["citances"]) == len(cited)
    letters = [c.xpath('.//span[contains(@class, "cited")]/text()') for c in citances]
    assert letters == [list(p or []) for p in cited] and ["A"] in letters
    marks = doc.xpath('//section[@id="citances"]//mark[@class="figure-ref"]/text()')
    assert any(re.fullmatch(r"Fig(?:ure)?\.? 2A", m, re.IGNORECASE) for m in marks), marks
    modality = doc.xpath('//div[@id="modality-chips"]/a')
    assert modality[0].text == detail["modality"]["name"]
    assert modality[0].get("href") == f"/browse?modality={detail['modality']['code']}"
    assert "graphics.chart" in [a.get("href").split("=")[1] for a in modality], "panel modalities are chips too"
    concept_links = doc.xpath('//div[@id="concept-chips"]/a/@href')
    assert concept_links == [f"/browse?concept={c['code']}" for c in detail["concepts"]]
    # a concept chip leads to a search that finds this figure
    assert fid in gallery_ids(html(client.get(concept_links[0] + "&limit=100")))


def test_caption_with_script_is_shown_as_text(client, corpus):
    fid = corpus["hostile"]
    r = client.get(f"/browse/figures/{fid}")
    assert r.status_code == 200
    assert "<script>window" not in r.text and "<img src=\"x\"" not in r.text and "<b>bold" not in r.text
    doc = html(r)
    assert doc.xpath('string(//section[@id="caption"]/p)').strip() == XSS_CAPTION
    assert XSS_SUBCAPTION in doc.xpath('//span[@class="subcaption-text"]/text()')
    texts = doc.xpath('//section[@id="citances"]//span[@class="citance-text"]')
    citance = next(t for t in texts if "As shown" in t.text_content())
    assert citance.text_content() == XSS_CITANCE
    assert citance.xpath("./mark/text()") == ["Figure 1B"], "the reference is marked, the rest stays text"
    assert not doc.xpath("//script[not(@src) and not(@type)]"), "no inline script reaches the page"
    # and in the gallery
    gallery = client.get("/browse", params={"q": "hostile"})
    assert "<script>window" not in gallery.text and "&lt;script&gt;" in gallery.text
    assert gallery_ids(html(gallery)) == [fid]


def test_figure_page_renders_whatever_fields_the_api_answers(client, corpus, monkeypatch):
    from api.routes import browse

    fid = corpus["three"]
    body = client.get(f"/figures/{fid}").json()

    # before: a bare answer with no subfigures, subcaptions, citances, concepts or modality
    bare = {k: v for k, v in body.items() if k not in ("subfigures", "subcaptions", "citances", "concepts", "modality")}
    monkeypatch.setattr(browse, "figure_detail", lambda *a: bare)
    doc = html(client.get(f"/browse/figures/{fid}"))
    assert not doc.xpath('//g[@class="panel-box"]') and not doc.xpath('//section[@id="citances"]')
    assert doc.xpath('//img[@id="figure-image"]') and doc.xpath('//section[@id="caption"]')

    # after: per-panel subcaption, full_text, citances, concepts and modality
    rich = json.loads(json.dumps(body))
    for sf in rich["subfigures"]:
        sf.update(subcaption=f"panel {sf['label']} <i>text</i>", full_text=f"shared part; panel {sf['label']} text",
                  citances=[{"text": f"see Fig. {sf['label']}", "section": "Results", "panels": [sf["label"]]}],
                  concepts=[{"id": 1, "vocab": "MSH", "code": "D002477", "name": "Cells", "mentions": 1,
                             "fields": ["subcaption"]}],
                  modality={"code": "microscopy", "name": "Microscopy", "cui": None, "score": 0.5})
    monkeypatch.setattr(browse, "figure_detail", lambda *a: rich)
    doc = html(client.get(f"/browse/figures/{fid}"))
    panels = doc.xpath('//ol[@class="panel-list"]/li')
    assert len(panels) == len(rich["subfigures"])
    assert [p.xpath('string(.//p[@class="panel-subcaption"])') for p in panels] == [
        f"panel {sf['label']} <i>text</i>" for sf in rich["subfigures"]]
    assert all(p.xpath('.//details/p/text()') for p in panels)
    assert [p.xpath('string(.//ul[@class="panel-citances"]/li)') for p in panels] == [
        f"see Fig. {sf['label']}" for sf in rich["subfigures"]]
    assert all(p.xpath('.//a[@class="chip concept"]') for p in panels)
    assert "/browse?modality=microscopy" in doc.xpath('//div[@id="modality-chips"]/a/@href')


def test_figure_page_links_back_to_the_search(client, corpus):
    doc = html(client.get("/browse", params={"q": "cells", "limit": 2}))
    card = doc.xpath('//ul[@id="gallery"]//a[@class="card-link"]/@href')[0]
    page = html(client.get(card))
    back = page.xpath('//a[@id="back-link"]/@href')[0]
    assert dict(parse_qsl(urlsplit(back).query)) == {"q": "cells", "limit": "2"}
    three = html(client.get(f"/browse/figures/{corpus['three']}"))
    assert three.xpath('//a[@id="article-figures"]/@href') == ["/browse?pmcid=PMC2924383"]
    assert three.xpath('//a[@id="back-link"]/@href') == ["/browse"]
    # only known parameters survive in the link back
    odd = html(client.get(f"/browse/figures/{corpus['three']}",
                          params={"from": "q=x&javascript:alert(1)=y&evil=1"}))
    assert odd.xpath('//a[@id="back-link"]/@href') == ["/browse?q=x"]
    missing = client.get("/browse/figures/999999")
    assert missing.status_code == 404 and "no figure 999999" in missing.text


def test_closed_reads_close_the_pages_too(corpus):
    from api.app import create_app
    from api.keys import create_api_key
    from figmine.settings import Settings

    with Session(corpus["engine"]) as s, s.begin():
        _, token = create_api_key(s, "closed reads")
    with TestClient(create_app(Settings(FIGMINE_API_READ_OPEN=False))) as c:
        for path in ["/browse", f"/browse/figures/{corpus['three']}", f"/browse/figures/{corpus['three']}/thumbnail"]:
            assert c.get(path).status_code == 401, path
            assert c.get(path, headers={"X-API-Key": token}).status_code == 200, path
        assert c.get("/browse/static/browse.css").status_code == 200


def test_pages_stay_out_of_the_openapi_document(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p == "/" or p.startswith("/browse")]


def test_reference_highlighting_marks_this_figure_only():
    from api.routes.browse import _figure_number, highlight_references

    two = _figure_number("Figure 2")
    assert str(highlight_references("as before (Fig. 2B–D; Figure 12A) & <x>", two)) == (
        'as before (<mark class="figure-ref">Fig. 2B–D</mark>; Figure 12A) &amp; &lt;x&gt;')
    assert str(highlight_references("Figs. 1A and 2C show it", two)) == (
        '<mark class="figure-ref">Figs. 1A and 2C</mark> show it')
    assert str(highlight_references("Figure S2A", _figure_number("Figure S2"))) == (
        '<mark class="figure-ref">Figure S2A</mark>')
    assert str(highlight_references("Figure 2A <b>", None)) == "Figure 2A &lt;b&gt;"


# -- in real headless Chromium -------------------------------------------------------------------
def chromium_executable() -> str:
    """Debian's chromium (`make test` installs it); never a browser downloaded by Playwright."""
    for candidate in (os.environ.get("FIGMINE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("Debian's chromium is not installed: run `apt-get install -y chromium` (as `make test` does) "
                "or point FIGMINE_CHROMIUM at a Chromium binary; the browser test does not skip")


@pytest.fixture(scope="module")
def server(corpus):
    """The app under uvicorn on a free loopback port, on a thread of this process."""
    import uvicorn

    from api.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{port}", "app": app}
    srv.should_exit = True
    thread.join(timeout=15)
    sock.close()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    executable = chromium_executable()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=True,
                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        assert b.version, "chromium answered"
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
    # failed requests are asserted where they matter (a refused key is a 403 on purpose)
    pg.on("console", lambda m: errors.append(m.text)
          if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    yield pg
    context.close()
    assert not errors, f"the page reported errors: {errors}"


def test_browser_is_debians_chromium(page, browser):
    # /usr/bin/chromium is Debian's wrapper script; it runs /usr/lib/chromium/chromium
    page.goto("chrome://version")
    command_line = page.inner_text("#command_line")
    print(f"\nchromium {browser.version}: {command_line[:120]}")
    assert command_line.startswith("/usr/lib/chromium/chromium") or chromium_executable() in command_line
    assert "--headless" in command_line


def test_browser_search_open_a_figure_and_see_its_panels(page, server, corpus, client):
    page.goto(server["url"] + "/")
    assert page.url.endswith("/browse")
    page.fill("#q", "motion")
    page.press("#q", "Enter")
    page.wait_for_url(re.compile(r"/browse\?q=motion$"))
    cards = page.locator("#gallery li.card")
    expected = [i["id"] for i in client.get("/figures", params={"q": "motion"}).json()["items"]]
    assert [int(x) for x in cards.evaluate_all("els => els.map(e => e.dataset.figureId)")] == expected[:24]
    assert "year_from" not in page.url, "empty filters stay out of the URL"

    # the thumbnails really load
    page.wait_for_function(
        "() => [...document.querySelectorAll('#gallery img')].every(i => i.complete && i.naturalWidth > 0)")

    assert corpus["three"] in expected[:24], "PMC2924383 Figure 2 (three panels) is about visual motion"
    fid = corpus["three"]
    page.click(f'#gallery li[data-figure-id="{fid}"] a.card-link')
    page.wait_for_url(re.compile(rf"/browse/figures/{fid}\?from=q%3Dmotion$"))
    page.wait_for_function(
        "() => { const i = document.getElementById('figure-image'); return i.complete && i.naturalWidth > 0; }")
    boxes = page.locator("#panel-overlay g.panel-box")
    assert boxes.count() == corpus["panels"][fid], "one box per stored panel"
    image = page.locator("#figure-image").bounding_box()
    with Session(corpus["engine"]) as s:
        w, h = s.execute(select(Figure.width, Figure.height).where(Figure.id == fid)).one()
        stored = s.execute(select(Subfigure.x1, Subfigure.y1, Subfigure.x2, Subfigure.y2)
                           .where(Subfigure.figure_id == fid).order_by(Subfigure.ordinal)).all()
    for k, (x1, y1, x2, y2) in enumerate(stored):
        drawn = boxes.nth(k).locator("rect").bounding_box()
        assert drawn is not None and drawn["width"] > 0 and drawn["height"] > 0
        # the box lands where the panel is on the displayed image (within 2 CSS pixels)
        sx, sy = image["width"] / w, image["height"] / h
        assert abs(drawn["x"] - (image["x"] + x1 * sx)) <= 2 and abs(drawn["y"] - (image["y"] + y1 * sy)) <= 2
        assert abs(drawn["width"] - (x2 - x1) * sx) <= 2 and abs(drawn["height"] - (y2 - y1) * sy) <= 2
    assert page.locator("#panel-overlay text").all_text_contents() == ["A", "B", "C"][: len(stored)]

    # hovering a panel in the list lights up its box
    page.hover("ol.panel-list li:first-child")
    assert "active" in (boxes.nth(0).get_attribute("class") or "")
    page.click("#back-link")
    page.wait_for_url(re.compile(r"/browse\?q=motion$"))
    assert page.locator("#gallery li.card").count() == len(expected[:24])


def test_browser_filters_with_concept_suggestions(page, server, corpus, client):
    page.goto(server["url"] + "/browse")
    page.click("details.filters summary")
    page.fill("#f-concept", "Motion Perc")
    page.wait_for_function("() => document.querySelectorAll('#concept-suggestions option').length > 0")
    suggested = page.eval_on_selector_all("#concept-suggestions option", "os => os.map(o => o.value)")
    assert "Motion Perception" in suggested
    page.fill("#f-concept", "Motion Perception")
    page.select_option("#f-compound", "true")
    page.press("#f-concept", "Enter")
    page.wait_for_url(re.compile(r"/browse\?concept=Motion\+Perception&compound=true$"))
    shown = [int(x) for x in page.locator("#gallery li.card").evaluate_all("els => els.map(e => e.dataset.figureId)")]
    assert shown and shown == api_ids(client, {"concept": "Motion Perception", "compound": "true"})[:24]
    assert page.locator("details.filters[open]").count() == 1, "the filters in use stay visible"


def test_browser_shows_a_hostile_caption_as_text(page, server, corpus):
    fid = corpus["hostile"]
    page.goto(f"{server['url']}/browse/figures/{fid}")
    page.wait_for_load_state("load")
    assert page.evaluate("() => window.__xss") is None, "no script from the corpus ran"
    assert page.inner_text("#caption p") == XSS_CAPTION
    assert XSS_SUBCAPTION in page.inner_text("#subcaptions")
    assert page.locator("#caption script, #subcaptions img, #citances script").count() == 0
    assert "Figure 1B" in page.locator("#citances mark.figure-ref").all_inner_texts()
    page.goto(f"{server['url']}/browse?q=hostile")
    assert page.evaluate("() => window.__xss") is None
    assert "<script>" in page.inner_text("#gallery .card-caption")


def test_browser_exports_the_current_query(page, server, corpus):
    from api.keys import create_api_key

    with Session(corpus["engine"]) as s, s.begin():
        _, token = create_api_key(s, "browse test")
    page.goto(f"{server['url']}/browse?pmcid=PMC2958805")
    n = page.locator("#gallery li.card").count()
    assert n > 0
    page.click("#export-button")
    assert "API key is needed" in page.inner_text("#export-message")

    page.fill("#export-key", "fm_not_a_key")
    page.click("#export-button")
    page.wait_for_function("() => document.getElementById('export-message').textContent.includes('refused')")

    page.fill("#export-key", token)
    page.select_option("#export-format", "jsonl")
    page.click("#export-button")
    page.wait_for_selector('#export-status[data-status="finished"]', timeout=120_000)
    assert f"{n} of {n} records" in page.inner_text("#export-message")
    assert page.get_attribute("#export-progress", "value") in ("1", "1.0")
    links = page.locator("a.export-file")
    names = links.all_inner_texts()
    assert any(t.startswith("manifest.json") for t in names) and any(".jsonl" in t for t in names), names
    jsonl = next(k for k, t in enumerate(names) if ".jsonl" in t)
    with page.expect_download() as download:
        links.nth(jsonl).click()
    records = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines() if line]
    assert len(records) == n and {r["pmcid"] for r in records} == {"PMC2958805"}
    with Session(corpus["engine"]) as s:
        export = s.execute(select(Export).order_by(Export.id.desc()).limit(1)).scalar_one()
        assert export.status == "finished" and "PMC2958805" in json.dumps(export.params)
        assert s.scalar(select(func.count()).select_from(Figure)) > n, "the export is the query, not everything"
