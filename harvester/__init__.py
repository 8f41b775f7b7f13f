"""Harvest PMC Open Access articles: discover, fetch, parse JATS, extract figures and citances."""
