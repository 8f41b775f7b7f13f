"""figmine: a living, panel-level image–text corpus mined from PubMed Central Open Access."""

__version__ = "0.1.0"
