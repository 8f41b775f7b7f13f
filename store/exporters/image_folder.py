"""Images written beside a JSONL or CSV export: `images/<key>.jpg`, hard-linked from a local blob
store when the bytes are exported unchanged (same file system), else written under `.part` and renamed.
A hard link appears whole or not at all, so it needs no `.part`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from store.exporters.samples import Sample, SampleError
from store.exporters.writer import PartFiles


class ImageFolder:
    def __init__(self, folder: Path, parts: PartFiles):
        self.folder = folder
        self.prefix = str(folder) + os.sep
        self.relative = folder.name + "/"
        self.parts = parts
        self.count = 0
        self.bytes = 0
        self._made = False

    def put(self, sample: Sample) -> tuple[str, int]:
        """Write the sample's image; return its path relative to the export folder, and its size."""
        if not self._made:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._made = True
        name = f"{sample.key}.jpg"
        target = self.prefix + name
        if sample.image is not None:
            part = self.parts.part(Path(target))
            part.write_bytes(sample.image)
            self.parts.commit(Path(target))
            size = len(sample.image)
        else:
            size = self._link(sample, target)
        self.count += 1
        self.bytes += size
        return self.relative + name, size

    def _link(self, sample: Sample, target: str) -> int:
        source = str(sample.image_path)
        try:
            try:
                os.link(source, target)
                self.parts.created_file(Path(target))
            except FileExistsError:  # an earlier export into the same folder: replace it atomically
                part = self.parts.part(Path(target))
                part.unlink(missing_ok=True)
                os.link(source, part)
                self.parts.commit(Path(target))
            except OSError as exc:
                if isinstance(exc, FileNotFoundError):
                    raise
                part = self.parts.part(Path(target))  # another file system: copy
                shutil.copyfile(source, part)
                self.parts.commit(Path(target))
            return os.stat(target).st_size
        except FileNotFoundError as exc:
            raise SampleError(f"{sample.key}: blob not found: {source}") from exc
