"""The read side of the REST API on real ingested articles in PostgreSQL (httpx TestClient).

The corpus: the OA packages and JATS files under tests/fixtures, ingested with `figmine ingest`, then
given what the later stages (detector, caption work) would add: two panels per figure that has an
image, subcaptions where the caption names (A) and (B), modalities and concept mentions.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from support.api_corpus import ingested_corpus
from store.filters import FigureFilter, filtered_figures
from store.models import Concept, ConceptMention, Figure, Modality, Subcaption, Subfigure

PROBLEM = "application/problem+json"




def _enrich(session: Session) -> dict:
    """What detection and caption work would add, on the real figures."""
    from store.modalities import ensure_taxonomy

    ids = ensure_taxonomy(session)  # the taxonomy of captions.modality, as the harvest runner seeds it
    mods = {code: session.get(Modality, ids[code]) for code in
            ("radiology", "radiology.ct", "microscopy", "microscopy.fluorescence", "graphics.chart")}
    concepts = {}
    for code, name in [("D006003", "Glycogen"), ("D012420", "Running"), ("D009039", "Motion Perception"),
                       ("D017173", "Caenorhabditis elegans")]:
        c = Concept(vocab="MSH", code=code, name=name, semantic_types=["T000"])
        session.add(c)
        concepts[name] = c
    session.flush()

    figure_modality = {"PMC2958805": "graphics.chart", "PMC2924383": "microscopy.fluorescence",
                       "PMC3532326": "radiology.ct"}
    rows = session.execute(
        text("SELECT f.id, f.width, f.height, f.caption_text, a.pmcid FROM figures f JOIN articles a "
             "ON a.id = f.article_id WHERE f.image_key IS NOT NULL ORDER BY f.id")
    ).all()
    with_panels, panel_ids = [], {}
    session.execute(text("UPDATE figures SET is_compound = false, n_panels = 1 WHERE image_key IS NULL"))
    for fid, w, h, caption, pmcid in rows:
        fig = session.get(Figure, fid)
        fig.is_compound, fig.n_panels = True, 2
        fig.modality_id, fig.modality_score = mods[figure_modality[pmcid]].id, 0.8
        a = Subfigure(figure_id=fid, ordinal=0, x1=0, y1=0, x2=w // 2, y2=h, score=0.9, method="xycut", label="A")
        b = Subfigure(figure_id=fid, ordinal=1, x1=w // 2, y1=0, x2=w, y2=h, score=0.8, method="xycut", label="B",
                      modality_id=mods["graphics.chart"].id if pmcid == "PMC2924383" else None,
                      modality_score=0.7)
        session.add_all([a, b])
        session.flush()
        panel_ids[fid] = (a.id, b.id)
        with_panels.append(fid)
        # ingest splits captions into subcaptions already; the detector's job is to tie them to panels
        existing = session.execute(select(Subcaption).where(Subcaption.figure_id == fid)).scalars().all()
        for sc in existing:
            sc.subfigure_id = {"A": a.id, "B": b.id}.get((sc.label or "").strip("()").upper())
        m = re.search(r"\(A\)(.*)\(B\)(.*)", caption, re.S)
        if m and not existing:
            for ordinal, (sub, part) in enumerate([(a, m.group(1)), (b, m.group(2))]):
                session.add(Subcaption(figure_id=fid, subfigure_id=sub.id, ordinal=ordinal, label=sub.label,
                                       text=part.strip(), full_text=part.strip()))
    session.flush()
    for name, word in [("Glycogen", "glycogen"), ("Running", "runner"), ("Caenorhabditis elegans", "elegans")]:
        for (fid, caption) in session.execute(
            select(Figure.id, Figure.caption_text).where(Figure.caption_text.ilike(f"%{word}%"))
        ).all():
            start = caption.lower().index(word)
            session.add(ConceptMention(concept_id=concepts[name].id, figure_id=fid, field="caption",
                                       start=start, end=start + len(word), text=caption[start:start + len(word)]))
    for sc in session.execute(select(Subcaption).where(Subcaption.text.ilike("%motion%"))).scalars():
        start = sc.text.lower().index("motion")
        session.add(ConceptMention(concept_id=concepts["Motion Perception"].id, figure_id=sc.figure_id,
                                   subfigure_id=sc.subfigure_id, subcaption_id=sc.id, field="subcaption",
                                   start=start, end=start + 6, text="motion"))
    return {"with_panels": with_panels, "panel_ids": panel_ids}


@pytest.fixture(scope="module")
def corpus(pg_url, tmp_path_factory):
    with ingested_corpus(pg_url, tmp_path_factory.mktemp("api-home"), _enrich, ingest_options=("--no-detect", "--no-concepts")) as info:
        yield info


@pytest.fixture(scope="module")
def client(corpus):
    from api.app import create_app

    with TestClient(create_app()) as c:
        yield c


def count(corpus, f: FigureFilter) -> int:
    with Session(corpus["engine"]) as s:
        return s.scalar(select(func.count()).select_from(filtered_figures(f).subquery()))


def walk(client, path: str, params: dict) -> tuple[list[dict], int]:
    """Every item of a listing, following next_cursor; returns the items and the number of pages."""
    items, pages, cursor = [], 0, None
    while True:
        r = client.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"items", "next_cursor", "total"}
        items.extend(body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages
        assert pages < 1000, "pagination does not end"


def assert_problem(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body = r.json()
    assert body["status"] == status and body["title"] and body["type"]
    assert body["request_id"] == r.headers["x-request-id"]
    return body


# -- listings and pagination ------------------------------------------------------------------------
def test_figure_pagination_walk_covers_everything_once(client, corpus):
    everything = client.get("/figures", params={"limit": 500, "total": "true"}).json()
    n = count(corpus, FigureFilter())
    assert everything["total"] == n == len(everything["items"]) > 100
    assert everything["next_cursor"] is None
    items, pages = walk(client, "/figures", {"limit": 7})
    ids = [i["id"] for i in items]
    assert len(ids) == len(set(ids)), "a figure came twice"
    assert ids == [i["id"] for i in everything["items"]] == sorted(ids)
    assert pages == -(-n // 7)
    assert all(i["rank"] is None for i in items)


@pytest.mark.parametrize("q", ["visual OR motion OR glycogen OR genome", "cells", '"standard error"'])
def test_ranked_search_walk_keyset_on_rank_and_id(client, corpus, q):
    full = client.get("/figures", params={"q": q, "limit": 500, "total": "true"}).json()
    assert full["total"] == count(corpus, FigureFilter(q=q)) == len(full["items"]) > 2
    ranks = [(i["rank"], i["id"]) for i in full["items"]]
    assert ranks == sorted(ranks, key=lambda t: (-t[0], t[1])), "not ordered by rank desc, id asc"
    items, _ = walk(client, "/figures", {"q": q, "limit": 2})
    assert [i["id"] for i in items] == [i["id"] for i in full["items"]], "pages differ from the single page"


def test_full_text_reaches_citances(client, corpus):
    # PMC2924383 says "On the contrary, the PSS shifted …(Figure 2A)"; no caption says "contrary"
    hits = client.get("/figures", params={"q": "contrary", "limit": 50}).json()["items"]
    with Session(corpus["engine"]) as s:
        in_captions = s.scalar(select(func.count()).where(Figure.caption_text.ilike("%contrary%")))
    assert in_captions == 0 and len(hits) >= 1
    assert "PMC2924383" in {h["pmcid"] for h in hits} and all(h["rank"] == 0 for h in hits)


def test_cursor_is_bound_to_its_query(client):
    first = client.get("/figures", params={"q": "motion", "limit": 1}).json()
    assert first["next_cursor"]
    body = assert_problem(client.get("/figures", params={"q": "glycogen", "limit": 1,
                                                         "cursor": first["next_cursor"]}), 422)
    assert "different query" in body["detail"]
    # same filters, other page size: fine
    assert client.get("/figures", params={"q": "motion", "limit": 3, "cursor": first["next_cursor"]}).status_code == 200
    # a cursor from /figures is no cursor for /subfigures
    plain = client.get("/figures", params={"limit": 1}).json()["next_cursor"]
    assert_problem(client.get("/subfigures", params={"limit": 1, "cursor": plain}), 422)
    for bad in ["garbage!", "e30", base64.urlsafe_b64encode(b'{"k":["x"],"h":"0"}').decode(), "A" * 600]:
        assert_problem(client.get("/figures", params={"cursor": bad}), 422)
    # a forged key with the right hash but the wrong shape
    h = json.loads(base64.urlsafe_b64decode(plain + "=" * (-len(plain) % 4)))["h"]
    forged = base64.urlsafe_b64encode(json.dumps({"k": [1.5, "x"], "h": h}).encode()).decode().rstrip("=")
    assert_problem(client.get("/figures", params={"cursor": forged, "limit": 1}), 422)


def test_limits_are_422_problems(client):
    body = assert_problem(client.get("/figures", params={"limit": 501}), 422)
    assert body["errors"][0]["loc"] == ["query", "limit"]
    assert_problem(client.get("/figures", params={"limit": 0}), 422)
    assert_problem(client.get("/figures", params={"q": "x" * 501}), 422)
    assert_problem(client.get("/figures", params={"year_from": "soon"}), 422)
    assert_problem(client.get("/figures", params={"q": "bad\x00byte"}), 422)
    assert client.get("/figures", params={"limit": 500}).status_code == 200


@pytest.mark.parametrize(
    "params, oracle",
    [
        ({"license": "commercial"}, FigureFilter(license=["commercial"])),
        ({"license": "CC BY-NC"}, FigureFilter(license=["CC BY-NC"])),
        ({"license": ["CC0", "PD"]}, FigureFilter(license=["CC0", "PD"])),
        ({"year_from": 2010, "year_to": 2015}, FigureFilter(year_from=2010, year_to=2015)),
        ({"journal": "plos one"}, FigureFilter(journal=["plos one"])),
        ({"pmcid": "PMC2924383"}, FigureFilter(pmcid=["PMC2924383"])),
        ({"has_citances": "false"}, FigureFilter(has_citances=False)),
        ({"min_width": 600, "min_height": 300}, FigureFilter(min_width=600, min_height=300)),
        ({"compound": "true"}, FigureFilter(compound=True)),
        ({"min_panels": 2}, FigureFilter(min_panels=2)),
        ({"modality": "radiology"}, FigureFilter(modality=["radiology"])),
        ({"modality": "graphics.chart"}, FigureFilter(modality=["graphics.chart"])),
        ({"modality": "graphics"}, FigureFilter(modality=["graphics"])),
        ({"concept": "D006003"}, FigureFilter(concept=["D006003"])),
        ({"concept": "caenorhabditis elegans"}, FigureFilter(concept=["caenorhabditis elegans"])),
        ({"q": "motion", "modality": "microscopy", "license": "commercial"},
         FigureFilter(q="motion", modality=["microscopy"], license=["commercial"])),
    ],
)
def test_figure_filters_match_the_filter_model(client, corpus, params, oracle):
    body = client.get("/figures", params={**params, "total": "true", "limit": 500}).json()
    expected = count(corpus, oracle)
    assert body["total"] == len(body["items"]) == expected, (params, body["total"], expected)


def test_filter_semantics_on_the_corpus(client, corpus):
    def total(**params):
        return client.get("/figures", params={**params, "total": "true", "limit": 1}).json()["total"]

    everything = total()
    assert total(license="commercial") == everything  # the fixtures are CC BY / CC0 / PD
    assert total(license="noncommercial") == everything
    assert total(license="CC BY-NC") == 0
    assert total(compound="true") == len(corpus["with_panels"]) == total(min_panels=2)
    assert total(pmcid="PMC2924383") == 4
    # a parent code matches its children (ingest's caption rules classify the other figures too)
    assert total(modality="radiology") >= total(modality="radiology.ct") >= 2
    assert total(modality="graphics") >= total(modality="graphics.chart") >= 4 + 4  # own + panels B
    assert total(concept="Glycogen") == total(concept="D006003") > 0
    items = client.get("/figures", params={"modality": "radiology.ct", "pmcid": "PMC3532326"}).json()["items"]
    assert len(items) == 2 and {i["modality"] for i in items} == {"radiology.ct"}


def test_subfigure_listing_filters_and_walk(client, corpus):
    n_panels = 2 * len(corpus["with_panels"])
    everything = client.get("/subfigures", params={"total": "true", "limit": 500}).json()
    assert everything["total"] == n_panels == len(everything["items"])
    items, _ = walk(client, "/subfigures", {"limit": 3})
    assert [i["id"] for i in items] == [i["id"] for i in everything["items"]]
    first = items[0]
    assert {"id", "figure_id", "box", "label", "image_url", "subcaption"} <= first.keys()
    assert first["image_url"] == f"/subfigures/{first['id']}/image"

    def ids(**params):
        return {i["id"] for i in client.get("/subfigures", params={**params, "limit": 500}).json()["items"]}

    # modality: a panel's own, else its figure's
    assert len(ids(modality="graphics.chart")) == 2 * 4 + 4  # PMC2958805's panels + PMC2924383's panels B
    assert len(ids(modality="microscopy")) == 4  # PMC2924383's panels A (panels B say chart)
    # q: panels of the matching figures, the one whose subcaption matches first
    hits = client.get("/subfigures", params={"q": "proportion rightward", "limit": 50}).json()["items"]
    assert [h["label"] for h in hits[:2]] == ["A", "B"] and hits[0]["rank"] > hits[1]["rank"]
    assert "proportion" in hits[0]["subcaption"].lower()
    assert ids(min_width=10_000) == set()
    items, _ = walk(client, "/subfigures", {"q": "motion OR stationarity OR glycogen", "limit": 2})
    single = client.get("/subfigures", params={"q": "motion OR stationarity OR glycogen", "limit": 500}).json()
    assert [i["id"] for i in items] == [i["id"] for i in single["items"]] and len(items) > 2


@pytest.mark.parametrize("params, oracle", [
    ({"modality": "graphics.chart"}, FigureFilter(modality=["graphics.chart"])),
    ({"q": "motion", "license": "commercial"}, FigureFilter(q="motion", license=["commercial"])),
    ({"concept": "Motion Perception"}, FigureFilter(concept=["Motion Perception"])),
    ({"pmcid": "PMC2958805", "year_to": 2010}, FigureFilter(pmcid=["PMC2958805"], year_to=2010)),
])
def test_subfigure_listing_is_what_a_panel_export_writes(client, corpus, params, oracle):
    from store.figure_records import count_panels

    body = client.get("/subfigures", params={**params, "total": "true", "limit": 500}).json()
    with Session(corpus["engine"]) as s:
        expected = count_panels(s, oracle)
    assert body["total"] == len(body["items"]) == expected > 0


def test_articles_list_and_detail(client, corpus):
    items, _ = walk(client, "/articles", {"limit": 4})
    assert len(items) == len({i["id"] for i in items}) == 16
    plos = client.get("/articles", params={"journal": "PLoS ONE", "total": "true"}).json()
    assert plos["total"] == 4  # "PLoS ONE" and "PLOS ONE": journal names match case-insensitively
    detail = client.get("/articles/pmc2924383").json()
    assert detail["pmcid"] == "PMC2924383" and detail["doi"] == "10.1371/journal.pone.0012255"
    assert len(detail["figures"]) == detail["n_figures"] == 4 and detail["n_citances"] > 0
    assert all(f["image_url"] == f"/figures/{f['id']}/image" for f in detail["figures"])
    assert_problem(client.get("/articles/PMC0000000"), 404)


# -- one figure, images -----------------------------------------------------------------------------
def test_figure_detail_has_panels_subcaptions_citances_concepts_modality(client, corpus):
    with Session(corpus["engine"]) as s:
        fid = s.scalar(select(Subcaption.figure_id).where(Subcaption.text.ilike("%proportion of rightward%")))
    body = client.get(f"/figures/{fid}").json()
    assert body["id"] == fid and body["article"]["pmcid"] == "PMC2924383"
    assert body["modality"]["code"] == "microscopy.fluorescence" and body["modality"]["score"] == pytest.approx(0.8)
    assert [p["label"] for p in body["subfigures"]] == ["A", "B"]
    assert body["subfigures"][1]["modality"]["code"] == "graphics.chart"
    assert body["subfigures"][0]["subcaptions"][0]["text"].startswith("The proportion of rightward")
    assert len(body["subcaptions"]) == 2
    panels = {p for c in body["citances"] for p in c["panels"]}
    assert {"A", "B"} <= panels, body["citances"]
    assert "Motion Perception" in {c["name"] for c in body["concepts"]}
    assert_problem(client.get("/figures/999999999"), 404)
    assert_problem(client.get("/figures/0"), 422)
    assert_problem(client.get("/figures/abc"), 422)


def test_figure_image_bytes_etag_and_cache(client, corpus):
    fid = corpus["with_panels"][0]
    r = client.get(f"/figures/{fid}/image")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.headers["etag"] == f'"{hashlib.sha256(r.content).hexdigest()}"'
    assert "max-age" in r.headers["cache-control"]
    again = client.get(f"/figures/{fid}/image", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and not again.content
    with Session(corpus["engine"]) as s:
        no_image = s.scalar(select(Figure.id).where(Figure.image_key.is_(None)).limit(1))
    assert_problem(client.get(f"/figures/{no_image}/image"), 404)


def test_subfigure_image_is_the_crop(client, corpus):
    fid = corpus["with_panels"][0]
    pa, pb = corpus["panel_ids"][fid]
    full = Image.open(io.BytesIO(client.get(f"/figures/{fid}/image").content))
    r = client.get(f"/subfigures/{pb}/image")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    crop = Image.open(io.BytesIO(r.content))
    assert crop.format == "JPEG" and crop.size == (full.width - full.width // 2, full.height)
    assert client.get(f"/subfigures/{pb}/image", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    assert client.get(f"/subfigures/{pa}/image").headers["etag"] != r.headers["etag"]
    assert_problem(client.get("/subfigures/999999999/image"), 404)


# -- concepts, stats, operations ------------------------------------------------------------------
def test_concept_autocomplete(client):
    names = [c["name"] for c in client.get("/concepts", params={"prefix": "gly"}).json()]
    assert names[0] == "Glycogen"
    assert [c["code"] for c in client.get("/concepts", params={"prefix": "d0171"}).json()] == ["D017173"]
    assert "Caenorhabditis elegans" in [c["name"] for c in client.get("/concepts", params={"prefix": "elegans"}).json()]
    assert client.get("/concepts", params={"prefix": "%"}).json() == []  # a wildcard is a character
    assert_problem(client.get("/concepts"), 422)


def test_stats_counts(client, corpus):
    body = client.get("/stats").json()
    assert body["articles"] == 16 and body["figures"] == count(corpus, FigureFilter())
    assert body["subfigures"] == 2 * len(corpus["with_panels"])
    assert body["by_modality"]["graphics.chart"] >= 4 and sum(body["by_modality"].values()) == body["figures"]
    assert sum(body["by_license"].values()) == 16
    assert body["by_year"]["2010"] == 2 and body["top_journals"]["PLoS ONE"] == 3


def test_operations_request_ids_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    r = client.get("/figures", params={"limit": 1}, headers={"X-Request-ID": "trace-abc.123"})
    assert r.headers["x-request-id"] == "trace-abc.123"
    generated = client.get("/figures", params={"limit": 1}, headers={"X-Request-ID": "bad id with spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    client.get("/figures/1")
    client.get("/no/such/path")
    text_ = client.get("/metrics").text
    assert 'figmine_http_requests_total{method="GET",route="/figures/{figure_id}",status="200"}' in text_
    assert 'route="<unmatched>",status="404"' in text_
    assert "figmine_http_request_duration_seconds_bucket" in text_
    assert_problem(client.get("/no/such/path"), 404)


def test_json_logs_carry_the_request_id(client, caplog):
    import logging

    from api.json_logs import JsonFormatter

    with caplog.at_level(logging.INFO, logger="figmine.api.access"):
        client.get("/figures/1", headers={"X-Request-ID": "log-check-1"})
    records = [r for r in caplog.records if r.name == "figmine.api.access"]
    line = json.loads(JsonFormatter().format(records[-1]))
    assert line["request_id"] == "log-check-1" and line["path"] == "/figures/1"
    assert line["route"] == "/figures/{figure_id}" and line["status"] == 200 and line["duration_ms"] >= 0


def test_cors_configuration(corpus, monkeypatch):
    from api.app import create_app
    from figmine.settings import Settings

    settings = Settings(FIGMINE_CORS_ORIGINS="https://browse.example.org")
    with TestClient(create_app(settings)) as c:
        r = c.options("/figures", headers={"Origin": "https://browse.example.org",
                                           "Access-Control-Request-Method": "GET"})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://browse.example.org"
        r = c.get("/healthz", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in r.headers
    with TestClient(create_app(Settings())) as c:  # nothing configured: no CORS headers
        r = c.get("/healthz", headers={"Origin": "https://browse.example.org"})
        assert "access-control-allow-origin" not in r.headers


# -- the app's own OpenAPI, fuzzed ------------------------------------------------------------------
OPERATIONS = [
    "GET /articles", "GET /articles/{pmcid}", "GET /figures", "GET /figures/{figure_id}",
    "GET /figures/{figure_id}/image", "GET /subfigures", "GET /subfigures/{subfigure_id}/image", "GET /concepts",
    "GET /stats", "POST /harvests", "GET /harvests/{run_id}", "POST /exports", "GET /exports/{export_id}",
    "GET /exports/{export_id}/files/{name}", "GET /healthz", "GET /readyz", "GET /metrics",
]
OPAQUE_INPUTS = {"/articles", "/figures", "/subfigures", "/concepts"}
FUZZ_EXAMPLES = 20  # per operation and mode: the whole run stays well under a minute


@pytest.fixture(scope="module")
def api_schema(client):
    schemathesis = pytest.importorskip("schemathesis", reason="the test extra installs schemathesis")

    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    schema.config.generation.update(allow_x00=True)
    return schema


def test_fuzzing_covers_every_operation(api_schema):
    found = {f"{op.ok().method.upper()} {op.ok().path}" for op in api_schema.get_all_operations()}
    assert found == set(OPERATIONS)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_openapi_fuzzing_never_gets_a_server_error(api_schema, operation):
    """Schemathesis on the app's own OpenAPI: valid and invalid inputs, no 5xx, problem+json errors,
    responses that match the documented schemas. (Writes get no key: they answer 401.)"""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    method, path = operation.split(" ", 1)
    op = api_schema[path][method]
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def check(case):
            response = case.call()
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} {case.query} → {response.status_code}: {response.text[:300]}")
            if response.status_code >= 400:
                content_type = (response.headers.get("content-type") or [""])[0]
                assert content_type.startswith(PROBLEM), (response.status_code, content_type)
            if mode == GenerationMode.POSITIVE:
                # A random `cursor` is schema-valid but not one the API issued (422 by design), and the
                # `q`/`prefix` length limit is configurable, so it is not in the schema.
                excluded = [positive_data_acceptance] if path in OPAQUE_INPUTS else []
                case.validate_response(response, excluded_checks=excluded)

        try:
            check()
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE  # nothing in this operation can be made invalid
