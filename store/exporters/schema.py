"""The one typed schema of an exported record, and its spelling for Hugging Face `datasets`.

Every format carries the same record (`store.figure_records`): Parquet as columns of these types,
JSONL and WebDataset as JSON objects. JSON has no types, and a loader that infers them from the first
rows sees `null` where a field happens to be empty there (a figure without a PMID, a panel without a
subcaption), then refuses the string or struct that comes later. So every export states its types:
Parquet in its schema metadata (the `huggingface` key `datasets` reads; the image column loads as an
`Image` feature), the other layouts in the dataset card's `dataset_info` (`store.exporters.card`).
"""

from __future__ import annotations

import json

import pyarrow as pa

__all__ = ["FIGURE_SCHEMA", "PANEL_SCHEMA", "hf_features", "hf_schema_metadata", "record_schema", "yaml_features"]

CITANCE = pa.struct([("text", pa.string()), ("section", pa.string()), ("panels", pa.list_(pa.string()))])
CONCEPT = pa.struct([
    ("vocab", pa.string()), ("code", pa.string()), ("name", pa.string()), ("field", pa.string()),
    ("text", pa.string()), ("start", pa.int32()), ("end", pa.int32()), ("score", pa.float64()),
])
SUBFIGURE = pa.struct([
    ("box", pa.list_(pa.int32())), ("score", pa.float64()), ("label", pa.string()), ("method", pa.string()),
    ("subcaption", pa.string()), ("full_text", pa.string()), ("citances", pa.list_(CITANCE)),
    ("concepts", pa.list_(CONCEPT)), ("modality", pa.string()),
])
SUBCAPTION = pa.struct([("label", pa.string()), ("text", pa.string()), ("full_text", pa.string()),
                         ("flag", pa.string())])

ARTICLE = [
    ("pmcid", pa.string()), ("version", pa.int32()), ("pmid", pa.string()), ("doi", pa.string()),
    ("title", pa.string()), ("journal", pa.string()), ("year", pa.int32()), ("license", pa.string()),
    ("retracted", pa.bool_()),
]

FIGURE_SCHEMA = pa.schema(
    [("key", pa.string()), *ARTICLE,
     ("figure_id", pa.string()), ("label", pa.string()), ("caption_title", pa.string()), ("caption", pa.string()),
     ("width", pa.int32()), ("height", pa.int32()), ("sha256", pa.string()), ("phash", pa.string()),
     ("image_source", pa.string()), ("citances", pa.list_(CITANCE)), ("subfigures", pa.list_(SUBFIGURE)),
     ("concepts", pa.list_(CONCEPT)), ("modality", pa.string()), ("modalities", pa.list_(pa.string())),
     ("text", pa.string()), ("image", pa.binary())]
)

PANEL_SCHEMA = pa.schema(
    [("key", pa.string()), *ARTICLE,
     ("figure_id", pa.string()), ("figure_label", pa.string()), ("caption", pa.string()), ("panel", pa.int32()),
     ("label", pa.string()), ("box", pa.list_(pa.int32())), ("score", pa.float64()), ("method", pa.string()),
     ("subcaption", SUBCAPTION), ("full_text", pa.string()), ("width", pa.int32()), ("height", pa.int32()), ("sha256", pa.string()),
     ("figure_sha256", pa.string()), ("citances", pa.list_(CITANCE)), ("concepts", pa.list_(CONCEPT)),
     ("modality", pa.string()), ("text", pa.string()), ("image", pa.binary())]
)



def record_schema(level: str) -> pa.Schema:
    """The JSON record's fields and types; its `image` is the image file's path (or null). Parquet's
    `key` column is the sample's own; so is a figure's `text` (its caption again), while a panel's
    record has a `text` of its own (subcaption, else caption)."""
    schema = PANEL_SCHEMA if level == "subfigure" else FIGURE_SCHEMA
    sample_only = {"key", "image"} | ({"text"} if level != "subfigure" else set())
    fields = [f for f in schema if f.name not in sample_only]
    return pa.schema([*fields, pa.field("image", pa.string())])


_DTYPES = {pa.string(): "string", pa.int32(): "int32", pa.int64(): "int64", pa.float64(): "float64",
           pa.bool_(): "bool", pa.binary(): "binary"}


def hf_features(schema: pa.Schema, *, images: tuple[str, ...] = ()) -> dict:
    """`datasets.Features.to_dict()` of a schema; the fields named in `images` are `Image` features."""
    return {f.name: {"_type": "Image"} if f.name in images else _hf_type(f.type) for f in schema}


def _hf_type(t: pa.DataType):
    if pa.types.is_struct(t):
        return {f.name: _hf_type(f.type) for f in t}
    if pa.types.is_list(t):
        return [_hf_type(t.value_type)]  # a plain list: read as List (datasets 4) or Sequence (2, 3)
    return {"dtype": _DTYPES[t], "_type": "Value"}


def hf_schema_metadata(schema: pa.Schema, *, images: tuple[str, ...] = ("image",)) -> pa.Schema:
    """The schema with the metadata `datasets` reads its features from."""
    info = {"info": {"features": hf_features(schema, images=images)}}
    return schema.with_metadata({**(schema.metadata or {}), b"huggingface": json.dumps(info).encode()})


def yaml_features(schema: pa.Schema, *, images: tuple[str, ...] = ()) -> list[dict]:
    """The schema as a dataset card's `dataset_info.features` (YAML, as the Hugging Face Hub writes it)."""
    return [{"name": f.name, "dtype": "image"} if f.name in images else {"name": f.name, **_yaml_type(f.type)}
            for f in schema]


def _yaml_type(t: pa.DataType) -> dict:
    if pa.types.is_struct(t):
        return {"struct": [{"name": f.name, **_yaml_type(f.type)} for f in t]}
    if pa.types.is_list(t):
        inner = _yaml_type(t.value_type)
        return {"list": inner["dtype"] if set(inner) == {"dtype"} else inner.get("struct", inner)}
    return {"dtype": _DTYPES[t]}
