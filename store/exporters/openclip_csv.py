"""open_clip CSV: `<split>.csv` with the columns `filepath` and `title`, images under `images/`.

Comma-separated, as a `.csv` promises (Hugging Face `datasets`, pandas and spreadsheets read it as
is; a tab-separated `.csv` broke them); fields with commas, quotes or line breaks are quoted. open_clip
reads it with `--csv-separator "," --csv-img-key filepath --csv-caption-key title`. `filepath` is
relative to the CSV's folder: run training from there (or pass absolute paths through your own
rewrite). Whitespace runs in captions are collapsed to single spaces (the caption is one line of text
for the tokenizer). A split that gets no record gets no file.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import IO

from store.exporters.image_folder import ImageFolder
from store.exporters.samples import Sample
from store.exporters.writer import ExportFile, FormatWriter

SEPARATOR = ","


class OpenClipCsvWriter(FormatWriter):
    format = "csv"
    file_suffix = ".csv"
    needs_images = True
    needs_bytes = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.images = ImageFolder(self.layout.images, self.parts)
        self.handles: dict[str, tuple[Path, IO[str], object, list[int]]] = {}

    def _handle(self, split: str):
        if split not in self.handles:
            path = self.layout.data_file(split, "csv", only_split=len(self.splits) == 1)
            handle = self.parts.part(path).open("w", encoding="utf-8", newline="")
            writer = csv.writer(handle, delimiter=SEPARATOR, lineterminator="\n")
            writer.writerow(["filepath", "title"])
            self.handles[split] = (path, handle, writer, [0])
        return self.handles[split]

    def write(self, sample: Sample) -> int:
        path, size = self.images.put(sample)
        title = " ".join(sample.text.split())
        sample.record["image"] = path
        _, _, writer, count = self._handle(sample.split)
        writer.writerow([path, title])
        count[0] += 1
        return size + len(path) + len(title) + 2

    def close(self) -> list[ExportFile]:
        for split in self.splits:
            if split not in self.handles and len(self.splits) > 1:
                continue  # no empty split file: loaders refuse them
            path, handle, _, count = self._handle(split)
            handle.close()
            self._done(path, count[0], split, "data")
        if self.images.count:
            self.files.append(ExportFile("images/", self.images.bytes, self.images.count, None, "images"))
        return self.files

    def abort(self) -> None:
        for _, handle, _, _ in self.handles.values():
            handle.close()
        self.handles.clear()
        super().abort()
