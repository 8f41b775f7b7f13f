"""Sources of articles. Each yields `ArticleBundle`s (see harvester.records)."""
