"""Every input accounted for on real articles: multi-article files, one identity per article, copies of one
identity decided the same way in any order, partial articles filled in later, overlong fields, runs that
say what happened (exit status, `figmine runs`)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from support.sql import rows, scalar
from typer.testing import CliRunner

from figmine.cli import app
from harvester.jats import parse_jats
from pipeline.runner import EXIT_CODES

FIXTURES = Path(__file__).parent / "fixtures"
NXML = FIXTURES / "nxml"
# real articles from six publishers, each with its own ids in its front matter
SET_MEMBERS = [NXML / "PMC2231364.xml", NXML / "PMC6398430.nxml", NXML / "europepmc" / "PMC13238370.xml",
               NXML / "elife" / "elife00005.xml", NXML / "plos" / "journal.pone.0005723.xml",
               NXML / "ehp-116-1694.nxml", NXML / "pone.0000217.nxml", NXML / "1471-2180-11-174.nxml"]
KITCHEN_SINK, ELIFE_00013 = NXML / "elife" / "elife-kitchen-sink.xml", NXML / "elife" / "elife00013.xml"
_ARTICLE_START = re.compile(rb"<article[\s>]")  # declaration, comments and DOCTYPE before it are dropped


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def articleset(members: list[Path]) -> bytes:
    """Real articles concatenated into one `<pmc-articleset>` (what efetch returns for several ids)."""
    body = b"".join(data[_ARTICLE_START.search(data).start():] for data in (p.read_bytes() for p in members))
    return b'<?xml version="1.0" encoding="UTF-8"?>\n<pmc-articleset>' + body + b"</pmc-articleset>"


def test_a_multi_article_file_stores_every_article_under_its_own_identity(figmine_env, tmp_path):
    url = figmine_env["url"]
    expected = {}
    for path in SET_MEMBERS:
        (parsed,) = parse_jats(path.read_bytes())
        expected[parsed.pmcid or parsed.doi.lower()] = (len(parsed.figures), len(parsed.citances))
    # named like the first article: the file name must not become every article's identity
    combined = tmp_path / "PMC2231364.xml"
    combined.write_bytes(articleset(SET_MEMBERS))

    result = invoke("ingest", "--no-detect", "--no-concepts", str(combined))
    assert result.exit_code == 0, result.output
    stored = {r.pmcid or r.doi.lower(): (r.figures, r.citances) for r in rows(url, """
        SELECT a.pmcid, a.doi, (SELECT count(*) FROM figures f WHERE f.article_id = a.id) AS figures,
               (SELECT count(*) FROM citances c WHERE c.article_id = a.id) AS citances FROM articles a""")}
    assert stored == expected, "each article keeps its own figures and citances"
    items = rows(url, "SELECT item, status, article_key, origin FROM harvest_items ORDER BY id")
    assert [i.status for i in items] == ["ok"] * len(SET_MEMBERS)
    assert [i.item for i in items] == [f"{combined}#{n}" for n in range(1, len(SET_MEMBERS) + 1)]
    assert len({i.article_key for i in items}) == len(SET_MEMBERS)
    assert all(i.origin == str(combined) for i in items)

    again = invoke("ingest", "--no-detect", "--no-concepts", str(combined))
    assert again.exit_code == 0, again.output
    assert scalar(url, "SELECT count(*) FROM articles") == len(SET_MEMBERS)
    last = rows(url, "SELECT status FROM harvest_items WHERE run_id = (SELECT max(id) FROM harvest_runs)")
    assert [r.status for r in last] == ["skipped"] * len(SET_MEMBERS)


@pytest.mark.parametrize("order", [(KITCHEN_SINK, ELIFE_00013), (ELIFE_00013, KITCHEN_SINK)],
                         ids=["newer-first", "older-first"])
def test_two_files_with_one_doi_are_decided_the_same_in_either_order(figmine_env, tmp_path, order):
    """Both eLife fixtures are 10.7554/eLife.00013 (2012 and a 2014 re-release with 25 figures)."""
    url = figmine_env["url"]
    folder = tmp_path / "in"
    folder.mkdir()
    for n, path in enumerate(order):  # one after the other, in this order
        shutil.copy(path, folder / f"{n}_{path.name}")
        result = invoke("ingest", "--no-detect", "--no-concepts", str(folder / f"{n}_{path.name}"))
        assert result.exit_code == 0, result.output
    (article,) = rows(url, "SELECT id, article_key, pub_date::text, origin, "
                           "(SELECT count(*) FROM figures f WHERE f.article_id = a.id) AS figures FROM articles a")
    assert (article.article_key, article.pub_date, article.figures) == ("doi:10.7554/elife.00013", "2014-02-28", 25)
    assert article.origin.endswith("elife-kitchen-sink.xml")
    items = {Path(r.item).name: r for r in rows(url, "SELECT item, status, reason, origin, other_origin FROM harvest_items")}
    first, second = (items[f"{n}_{p.name}"] for n, p in enumerate(order))
    if order[0] == KITCHEN_SINK:  # the newer copy came first: the older one is a conflict
        assert (first.status, second.status) == ("ok", "conflict")
        assert second.other_origin == first.origin and "newer publication date" in second.reason
    else:  # the older copy came first: the newer one replaces it
        assert (first.status, second.status) == ("ok", "replaced")
        assert second.other_origin == first.origin and "newer publication date" in second.reason
    assert ("conflict" if order[0] == KITCHEN_SINK else "replaced") in result.output

    # both together (in parallel, in no set order), again: nothing is stored again
    fetched = scalar(url, "SELECT fetched_at FROM articles")
    again = invoke("ingest", "--no-detect", "--no-concepts", str(folder))
    assert again.exit_code == 0, again.output
    assert scalar(url, "SELECT fetched_at FROM articles") == fetched
    assert scalar(url, "SELECT count(*) FROM figures") == 25
    last = {r.status for r in rows(url, "SELECT status FROM harvest_items WHERE run_id = (SELECT max(id) FROM harvest_runs)")}
    assert last == {"skipped", "conflict"}


def _mirror_version(root: Path, media_present: set[str]) -> Path:
    """PMC2924383 v2 as a bucket-mirror version folder (its real files) whose metadata lists all four
    figures, of which only `media_present` are there."""
    src = FIXTURES / "s3_mirror_src" / "PMC2924383"
    folder = root / "PMC2924383.2"
    folder.mkdir(parents=True, exist_ok=True)
    import hashlib

    def md5(data: bytes) -> str:
        return hashlib.md5(data).hexdigest()

    xml = (src / "pone.0012255.nxml").read_bytes()
    (folder / "PMC2924383.2.xml").write_bytes(xml)
    media = sorted(p for p in src.iterdir() if p.suffix == ".jpg")
    for p in media:
        if p.name in media_present:
            shutil.copy(p, folder / p.name)
    doc = {"pmcid": "PMC2924383", "version": 2, "pmid": 20808861, "doi": "10.1371/journal.pone.0012255",
           "license_code": "CC BY", "is_pmc_openaccess": True,
           "xml_url": f"s3://pmc-oa-opendata/PMC2924383.2/PMC2924383.2.xml?md5={md5(xml)}",
           "media_urls": [f"s3://pmc-oa-opendata/PMC2924383.2/{p.name}?md5={md5(p.read_bytes())}" for p in media]}
    (folder / "PMC2924383.2.json").write_text(json.dumps(doc))
    return folder


def test_a_missing_figure_file_makes_the_article_partial_and_a_later_run_fills_it_in(figmine_env, tmp_path):
    url = figmine_env["url"]
    mirror = tmp_path / "mirror"
    folder = _mirror_version(mirror, {"pone.0012255.g001.jpg", "pone.0012255.g003.jpg", "pone.0012255.g004.jpg"})
    result = invoke("ingest", "--no-detect", "--no-concepts", str(mirror))
    assert result.exit_code == EXIT_CODES["partial"], result.output
    (item,) = rows(url, "SELECT status, reason FROM harvest_items")
    assert item.status == "partial" and "pone.0012255.g002.jpg" in item.reason and "missing" in item.reason
    figures = rows(url, "SELECT label, image_key, image_error FROM figures ORDER BY ordinal")
    assert [bool(f.image_key) for f in figures] == [True, False, True, True]
    assert "missing" in figures[1].image_error
    assert scalar(url, "SELECT count(*) FROM citances") > 0

    # the file is there now: the next run stores the complete copy in place of the partial one
    shutil.copy(FIXTURES / "s3_mirror_src" / "PMC2924383" / "pone.0012255.g002.jpg", folder)
    again = invoke("ingest", "--no-detect", "--no-concepts", str(mirror))
    assert again.exit_code == 0, again.output
    last = rows(url, "SELECT status, reason FROM harvest_items WHERE run_id = (SELECT max(id) FROM harvest_runs)")
    assert [r.status for r in last] == ["replaced"] and "more figures with an image" in last[0].reason
    assert scalar(url, "SELECT count(*) FROM figures WHERE image_key IS NOT NULL") == 4
    assert scalar(url, "SELECT count(*) FROM articles") == 1


def test_a_malformed_article_is_stored_as_partial_with_the_reason(figmine_env, tmp_path):
    url = figmine_env["url"]
    data = (NXML / "PMC6398430.nxml").read_bytes()
    cut = data[: int(len(data) * 0.6)]  # a transfer cut off: the end of the body is lost
    (tmp_path / "PMC6398430.nxml").write_bytes(cut)
    result = invoke("ingest", "--no-detect", "--no-concepts", str(tmp_path / "PMC6398430.nxml"))
    assert result.exit_code == EXIT_CODES["partial"], result.output
    (item,) = rows(url, "SELECT status, reason FROM harvest_items")
    assert item.status == "partial" and item.reason, item
    assert scalar(url, "SELECT count(*) FROM articles WHERE pmcid = 'PMC6398430'") == 1


def _overlong(source: Path) -> bytes:
    """A real article with front matter and figure fields far over their columns."""
    xml = source.read_text(encoding="utf-8")
    xml = re.sub(r'(<article-id pub-id-type="pmid">)[^<]+', r"\g<1>" + "1" * 30, xml, count=1)
    xml = re.sub(r'(<article-id pub-id-type="pmc">)[^<]+', r"\g<1>" + "", xml, count=1)
    xml = re.sub(r'(<article-id pub-id-type="doi">)[^<]+', r"\g<1>10.1234/" + "x" * 352, xml, count=1)
    xml = re.sub(r"(<journal-title>)[^<]+", r"\g<1>" + "Journal " * 90, xml, count=1)
    xml = re.sub(r'(<fig\b[^>]*\bid=")[^"]+', r"\g<1>" + "f" * 300, xml, count=1)
    return re.sub(r"(<fig [^>]*>\s*<label>)[^<]+", r"\g<1>" + "Figure 1 " * 40, xml, count=1).encode()


def test_overlong_fields_keep_the_article_and_never_show_sql(figmine_env, tmp_path):
    url = figmine_env["url"]
    (tmp_path / "long.nxml").write_bytes(_overlong(NXML / "PMC6398430.nxml"))
    result = invoke("ingest", "--no-detect", "--no-concepts", str(tmp_path / "long.nxml"))
    assert result.exit_code == 0, result.output
    (article,) = rows(url, "SELECT article_key, pmid, doi, length(journal) AS journal, warnings::text FROM articles")
    assert article.pmid is None and article.doi is None, "invalid ids are left out, not cut"
    assert article.article_key.startswith("sha256:")
    assert article.journal == 500
    assert re.search(r"journal of 7\d\d characters cut to 500", article.warnings)
    assert "jats_id of 300 characters cut to 200" in article.warnings
    assert "is not a valid PMID" in article.warnings and "is not a valid DOI" in article.warnings
    first = rows(url, "SELECT length(jats_id) AS id, length(label) AS label FROM figures ORDER BY ordinal LIMIT 1")[0]
    assert (first.id, first.label) == (200, 200)
    (item,) = rows(url, "SELECT status, reason FROM harvest_items")
    assert item.status == "ok" and "cut to 200" in item.reason
    assert "INSERT" not in item.reason and "SELECT" not in item.reason


def test_runs_list_and_show_each_articles_outcome(figmine_env, tmp_path):
    bad = tmp_path / "broken.nxml"
    bad.write_bytes(b"\x89PNG not an article")
    result = invoke("ingest", "--no-detect", "--no-concepts", str(bad), str(NXML / "PMC2231364.xml"))
    assert result.exit_code == EXIT_CODES["failed"], result.output
    listing = invoke("runs", "--json")
    assert listing.exit_code == 0, listing.output
    (run,) = json.loads(listing.output)
    assert (run["status"], run["command"], run["counts"]) == ("finished", "ingest", {"ok": 1, "failed": 1})
    shown = invoke("runs", "show", str(run["id"]), "--json")
    items = [json.loads(line) for line in shown.output.splitlines()]
    assert {(Path(i["item"]).name, i["status"]) for i in items} == {("broken.nxml", "failed"),
                                                                     ("PMC2231364.xml", "ok")}
    assert next(i for i in items if i["status"] == "ok")["article_key"] == "PMC2231364"
    assert "not a JATS article" in next(i for i in items if i["status"] == "failed")["reason"]
    text = " ".join(invoke("runs", "show", str(run["id"])).output.split())
    assert "broken.nxml" in text and "not a JATS article" in text
    assert invoke("runs", "show", "999").exit_code == 1


def test_a_higher_version_wins_over_a_newer_date(figmine_env, tmp_path):
    """Versioned file names (eLife's `-v2`) carry the version: it decides before the publication date."""
    url = figmine_env["url"]
    shutil.copy(KITCHEN_SINK, tmp_path / "elife-00013-v1.xml")  # published 2014
    shutil.copy(ELIFE_00013, tmp_path / "elife-00013-v2.xml")  # published 2012, but version 2
    for name in ("elife-00013-v2.xml", "elife-00013-v1.xml"):
        result = invoke("ingest", "--no-detect", "--no-concepts", str(tmp_path / name))
        assert result.exit_code == 0, result.output
    (article,) = rows(url, "SELECT version, origin FROM articles")
    assert article.version == 2 and article.origin.endswith("elife-00013-v2.xml")
    last = rows(url, "SELECT status, reason FROM harvest_items ORDER BY id DESC LIMIT 1")[0]
    assert last.status == "conflict" and "higher version (2 > 1)" in last.reason


def test_a_database_error_is_reported_without_its_statement(figmine_env):
    """What reaches a run's items (and the API's recent_errors) names the error, never the SQL and its
    parameters."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError

    from pipeline.runner import describe_error

    engine = create_engine(figmine_env["url"])
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO articles (article_key, source, xml_sha256, content_hash) "
                              "VALUES (:k, 'xml', 'x', 'y')"), {"k": "k" * 400})
    except DBAPIError as exc:
        error = exc
    finally:
        engine.dispose()
    assert "INSERT" in str(error)  # what SQLAlchemy's own message carries
    reason = describe_error(error)
    assert reason.startswith("StringDataRightTruncation: value too long for type character varying(320)"), reason
    assert "INSERT" not in reason and "kkkk" not in reason and "\n" not in reason


def test_the_summary_counts_what_the_store_holds_when_copies_meet_in_one_run(figmine_env, tmp_path):
    """Both copies of eLife.00013 in one parallel run: whichever comes first, one article with the newer
    copy's 25 figures is what the run reports (it once reported the figures of both)."""
    for path in (KITCHEN_SINK, ELIFE_00013):
        shutil.copy(path, tmp_path / path.name)
    result = invoke("ingest", "--no-detect", "--no-concepts", str(tmp_path))
    assert result.exit_code == 0, result.output
    (run,) = json.loads(invoke("runs", "--json").output)
    assert (run["articles"], run["figures"]) == (1, 25)
    assert sum(run["counts"].values()) == 2 and run["counts"].get("ok") == 1
    text = " ".join(result.output.split())
    assert "articles in the store from this run │ 1" in text and "their figures │ 25" in text


def test_an_article_that_cannot_be_stored_costs_only_itself_in_a_multi_article_file(figmine_env, tmp_path,
                                                                                     monkeypatch):
    """A fault injected at the store (the database refusing one article) fails that article under its
    own name; the file's other articles are stored and recorded."""
    import pipeline.runner as runner_module

    real_store = runner_module.store_article

    def refusing(session, prepared):
        if prepared.key == "PMC6398430":
            raise RuntimeError("the database refused it")
        return real_store(session, prepared)

    monkeypatch.setattr(runner_module, "store_article", refusing)
    combined = tmp_path / "set.xml"
    combined.write_bytes(articleset(SET_MEMBERS[:3]))
    result = invoke("ingest", "--no-detect", "--no-concepts", str(combined))
    assert result.exit_code == EXIT_CODES["failed"], result.output
    items = {r.item: r for r in rows(figmine_env["url"], "SELECT item, status, reason FROM harvest_items")}
    assert {k: v.status for k, v in items.items()} == {f"{combined}#1": "ok", f"{combined}#2": "failed",
                                                       f"{combined}#3": "ok"}
    assert items[f"{combined}#2"].reason == "RuntimeError: the database refused it"
    assert scalar(figmine_env["url"], "SELECT count(*) FROM articles") == 2


@pytest.mark.parametrize("stop", [KeyboardInterrupt, ConnectionError], ids=["stopped", "broken"])
def test_a_distributed_harvest_that_cannot_send_its_articles_says_why(figmine_env, monkeypatch, stop):
    """Dispatch to the workers (a real Redis on loopback) stopped by Ctrl-C / SIGTERM is `interrupted`;
    a discovery that breaks is `failed` with the reason: never left `running`."""
    import uuid

    import harvester.discovery
    from figmine.settings import get_settings
    from pipeline.harvest import Harvest, HarvestOptions
    from store import db

    monkeypatch.setenv("FIGMINE_BROKER_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("FIGMINE_BROKER_KEY_PREFIX", f"figmine-test-{uuid.uuid4().hex[:8]}:")
    db.reset_caches()

    def discover(**_):
        raise stop("E-utilities went away")
        yield  # a generator, as the real one is

    monkeypatch.setattr(harvester.discovery, "discover", discover)
    job = Harvest(HarvestOptions(pmcid=["PMC2924383"]), settings=get_settings(), sessions=db.session_factory())
    with pytest.raises(stop):
        job.run()
    (run,) = rows(figmine_env["url"], "SELECT status, error, pid FROM harvest_runs")
    assert run.pid is None, "the workers carry a distributed run: no local process to outlive"
    if stop is KeyboardInterrupt:
        assert (run.status, run.error) == ("interrupted", "interrupted while sending the articles")
    else:
        assert (run.status, run.error) == ("failed", "ConnectionError: E-utilities went away")
