"""WebDataset shards: `<split>-NNNNNN.tar`, each sample as `<key>.jpg`, `<key>.txt`, `<key>.json`.

The members of a sample are consecutive (what the `webdataset` library expects), keys have no dots.
Members are plain USTAR entries (PAX only for a name over 100 bytes) with a fixed mtime, owner and
mode, so the same samples always give the same bytes; the headers are those `tarfile` makes, filled in
from a template (tarfile's per-member overhead was most of the export's time).
Read them with `webdataset.WebDataset("out/train-{000000..000009}.tar").decode("pil")`.
"""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

from store.exporters.samples import Sample
from store.exporters.writer import ExportFile, FormatWriter

_MTIME = 0  # fixed: shards are byte-for-byte reproducible
_BLOCK = 512
_RECORD = 20 * _BLOCK  # tar's record size: an archive is padded to a multiple of it


def _template() -> bytes:
    """tarfile's own USTAR header for a regular file (mode 0644, uid/gid 0, mtime 0), blank name, size
    and checksum: each member header is this with three fields filled in."""
    info = tarfile.TarInfo("x")
    info.size, info.mtime, info.mode = 0, _MTIME, 0o644
    header = bytearray(info.tobuf(tarfile.USTAR_FORMAT))
    header[0:100] = bytes(100)
    header[124:136] = b"%011o\0" % 0
    header[148:156] = b" " * 8
    return bytes(header)


_TEMPLATE = _template()
_TEMPLATE_SUM = sum(_TEMPLATE) - sum(_TEMPLATE[124:136])  # without the size field, filled per member
_ZEROS = bytes(_BLOCK)


def _member_size(size: int) -> int:
    return _BLOCK + (size + _BLOCK - 1) // _BLOCK * _BLOCK


def member(name: str, data: bytes) -> list[bytes]:
    """Header, data and padding of one member (what tarfile writes for it, without its overhead)."""
    raw = name.encode("utf-8")
    size = len(data)
    if len(raw) > 100 or len(raw) != len(name) or size >= 8**11:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, _MTIME, 0o644
        header = info.tobuf(tarfile.PAX_FORMAT)
    else:
        header = bytearray(_TEMPLATE)
        header[0:len(raw)] = raw
        size_field = b"%011o\0" % size
        header[124:136] = size_field
        header[148:156] = b"%06o\0 " % (_TEMPLATE_SUM + sum(raw) + sum(size_field))
    padding = -size % _BLOCK
    return [header, data, _ZEROS[:padding]] if padding else [header, data]


class _Shard:
    def __init__(self, path: Path, part: Path):
        self.path = path
        self.handle = part.open("wb", buffering=0)  # one write per sample, no extra copy in a buffer
        self.size = 0
        self.records = 0

    def add(self, members: list[tuple[str, bytes]]) -> int:
        chunks = [chunk for name, data in members for chunk in member(name, data)]
        total = sum(len(chunk) for chunk in chunks)
        fd = self.handle.fileno()
        written = os.writev(fd, chunks)  # one system call, no copy into one buffer
        if written < total:  # a short write (signal, full disk on the next call): the rest plainly
            rest = memoryview(b"".join(chunks))[written:]
            while rest:
                rest = rest[os.write(fd, rest):]
        self.size += total
        return total

    def close(self) -> None:
        end = 2 * _BLOCK + (-(self.size + 2 * _BLOCK) % _RECORD)  # two zero blocks, then pad the record
        self.handle.write(bytes(end))
        self.size += end
        self.handle.close()


class WebDatasetWriter(FormatWriter):
    format = "webdataset"
    needs_images = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.shards: dict[str, _Shard] = {}
        self.next_index: dict[str, int] = {}

    def write(self, sample: Sample) -> int:
        image = sample.image_bytes()
        record = sample.record
        record["image"] = f"{sample.key}.jpg"
        meta = json.dumps(record, ensure_ascii=False).encode()
        text = sample.text.encode()
        size = _member_size(len(image)) + _member_size(len(meta)) + _member_size(len(text))
        shard = self.shards.get(sample.split)
        if shard is not None and self.shard_size.full(shard.records, shard.size, size):
            self._finish(sample.split)
            shard = None
        if shard is None:
            shard = self._open(sample.split)
        written = shard.add([(f"{sample.key}.jpg", image), (f"{sample.key}.txt", text), (f"{sample.key}.json", meta)])
        shard.records += 1
        return written

    def _open(self, split: str) -> _Shard:
        index = self.next_index.get(split, 0)
        self.next_index[split] = index + 1
        path = self.layout.shard(split, index, "tar")
        shard = self.shards[split] = _Shard(path, self.parts.part(path))
        return shard

    def _finish(self, split: str) -> None:
        shard = self.shards.pop(split)
        shard.close()
        self._done(shard.path, shard.records, split, "shard")

    def close(self) -> list[ExportFile]:
        for split in list(self.shards):
            self._finish(split)
        return self.files

    def abort(self) -> None:
        for shard in self.shards.values():
            try:
                shard.close()
            except OSError:
                pass
        self.shards.clear()
        super().abort()
