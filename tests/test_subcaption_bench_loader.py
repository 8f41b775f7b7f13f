"""The SourceData loader of bench/subcaption_bench.py reads captions as figmine's JATS path would."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import subcaption_bench  # noqa: E402


def test_literal_nbsp_escape_is_read_as_a_space(tmp_path):
    d = tmp_path / "soda_curation_ground_truth"
    d.mkdir()
    fig = {
        "figure_label": "Figure 6",
        "figure_caption": "(H) BACE457\\xa0is not delivered. (I) <strong>Same</strong> as H.",
        "caption_title": "t",
        "panels": [{"panel_label": "H", "panel_caption": "x"}, {"panel_label": "I", "panel_caption": "y"}],
    }
    (d / "M-1.json").write_text(json.dumps({"manuscript_id": "M-1", "figures": [fig]}))
    (g,) = subcaption_bench.load_soda(tmp_path)
    assert "\\xa0" not in g.caption_xml and "\\xa0" not in g.caption, g.caption_xml
    assert subcaption_bench.tokens(g.caption)[:3] == ["h", "bace457", "is"]
