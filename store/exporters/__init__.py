"""Exports: figure or panel records with images as WebDataset, Parquet, JSONL or open_clip CSV.

Writers share one interface (`writer.FormatWriter`) and one input (samples built from
`store.figure_records`); `engine.run_export` runs the pipeline, `jobs` keeps the `exports` row.
"""

from store.exporters.engine import FORMATS, LEVELS, ExportProgress, ExportResult, ExportSpec, run_export
from store.exporters.jobs import create_export_job, execute_export_job, export_file
from store.exporters.writer import ExportError

__all__ = [
    "FORMATS",
    "LEVELS",
    "ExportError",
    "ExportProgress",
    "ExportResult",
    "ExportSpec",
    "create_export_job",
    "execute_export_job",
    "export_file",
    "run_export",
]
