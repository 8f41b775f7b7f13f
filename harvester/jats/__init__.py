"""JATS XML parsing: articles, figures, captions and the sentences that cite each figure.

`parse_jats(data)` is the entry point; `JatsError` is raised for input that is not JATS XML.
Damaged input is repaired (`ParsedArticle.warnings`) or read as far as possible, what could not be
kept listed in `ParsedArticle.losses`; `encoding.sniff_jats` is the cheap test sources run first.
"""

from harvester.jats.parse import parse_article, parse_jats
from harvester.jats.secure_xml import JatsError

__all__ = ["JatsError", "parse_article", "parse_jats"]
