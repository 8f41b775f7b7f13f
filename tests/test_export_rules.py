"""Export rules without a database: split assignment, near-duplicate search, shard sizes."""

from __future__ import annotations

import random

import pytest

from store.exporters.dedup import Dedup, Deduplicator, PhashIndex
from store.exporters.splits import SplitError, Splits, assign_split
from store.exporters.writer import ExportError, ShardSize, parse_bytes


def test_split_assignment_is_a_function_of_seed_and_article():
    splits = Splits.from_value("0.9/0.05/0.05")
    keys = [f"PMC{1_000_000 + i}" for i in range(20_000)]
    first = [assign_split(k, 7, splits) for k in keys]
    assert first == [assign_split(k, 7, splits) for k in keys], "same seed must give the same splits"
    other_seed = [assign_split(k, 8, splits) for k in keys]
    assert first != other_seed, "another seed should shuffle articles differently"
    share = {name: first.count(name) / len(keys) for name in splits.names}
    assert abs(share["train"] - 0.9) < 0.01 and abs(share["test"] - 0.05) < 0.01, share
    # adding articles never moves existing ones
    assert [assign_split(k, 7, splits) for k in keys[:100]] == first[:100]


def test_split_specifications():
    assert Splits.from_value(None).names == ["all"]
    assert Splits.from_value("train=0.8,validation=0.1,test=0.1").to_list() == [
        ["train", 0.8], ["validation", 0.1], ["test", 0.1]]
    assert Splits.from_value([["a", 0.5], ["b", 0.5]]).names == ["a", "b"]
    assert Splits.from_value({"train": 1.0}).names == ["train"]
    for bad in ("0.5/0.4", "train=0.5,train=0.5", "x=1.5,y=-0.5", "0.2/0.2/0.2/0.4", "bad/text", "a b=1"):
        with pytest.raises(SplitError):
            Splits.from_value(bad)


def _brute_near(stored: list[int], value: int, threshold: int) -> bool:
    return any((value ^ other).bit_count() <= threshold for other in stored)


@pytest.mark.parametrize("threshold", [0, 1, 4, 8])
def test_multi_index_phash_search_finds_exactly_what_brute_force_finds(threshold):
    rng = random.Random(threshold)
    stored = [rng.getrandbits(64) for _ in range(2000)]
    index = PhashIndex(threshold)
    for value in stored:
        index.add(value)
    queries = [rng.getrandbits(64) for _ in range(500)]
    for value in stored[:500]:  # near copies: flip up to threshold + 2 random bits
        flips = rng.sample(range(64), rng.randint(0, threshold + 2))
        queries.append(value ^ sum(1 << b for b in flips))
    for q in queries:
        found = index.near(q)
        assert (found is not None) == _brute_near(stored, q, threshold), f"query {q:016x}"
        if found is not None:
            assert (found ^ q).bit_count() <= threshold


def test_deduplicator_keeps_the_first_copy():
    exact = Deduplicator(Dedup("sha256"))
    a, b = "a" * 64, "b" * 64
    assert [exact.is_duplicate(a, "ffff0000ffff0000"), exact.is_duplicate(b, "ffff0000ffff0001"),
            exact.is_duplicate(a, None), exact.is_duplicate(None, None)] == [False, False, True, False]
    assert exact.removed == {"sha256": 1, "phash": 0}

    near = Deduplicator(Dedup.from_value("phash:2"))
    assert not near.is_duplicate(a, "ffff0000ffff0000")
    assert near.is_duplicate(b, "ffff0000ffff0003"), "2 bits apart is a near copy at threshold 2"
    assert not near.is_duplicate("c" * 64, "ffff0000ffff0007"), "3 bits from the kept one (a dropped copy is not kept)"
    assert not near.is_duplicate("d" * 64, "0000ffff0000ffff")
    assert near.is_duplicate(a, "0123456789abcdef"), "the same bytes are a duplicate whatever the phash"
    assert near.removed == {"sha256": 1, "phash": 1}


def test_dedup_and_shard_size_specifications():
    assert Dedup.from_value(None) is None and Dedup.from_value("none") is None
    assert Dedup.from_value("phash:6") == Dedup("phash", 6)
    assert Dedup.from_value({"method": "sha256"}) == Dedup("sha256")
    with pytest.raises(ValueError):
        Dedup.from_value("md5")
    assert parse_bytes("500MB") == 500_000_000 and parse_bytes("1GiB") == 2**30 and parse_bytes("77") == 77
    assert ShardSize.from_value("1000") == ShardSize(records=1000, bytes=None)
    assert ShardSize.from_value("1000,1GB") == ShardSize(records=1000, bytes=10**9)
    assert ShardSize.from_value("256MiB") == ShardSize(records=None, bytes=256 * 2**20)
    assert ShardSize.from_value({"records": 5, "bytes": None}) == ShardSize(5, None)
    with pytest.raises(ExportError):
        ShardSize.from_value("lots")
    size = ShardSize(records=3, bytes=100)
    assert not size.full(0, 0, 10_000), "an oversized sample still gets a shard"
    assert size.full(3, 10, 1) and size.full(1, 60, 50) and not size.full(1, 40, 50)


def test_webdataset_members_are_what_tarfile_writes(tmp_path):
    import io
    import tarfile

    from store.exporters.webdataset import _Shard

    members = [("PMC1_f000.jpg", b"\xff\xd8" + bytes(range(256)) * 7), ("PMC1_f000.txt", "légende".encode()),
               ("PMC1_f000.json", b"{}"), ("a" * 120 + ".txt", b"long name"), ("empty.txt", b"")]
    shard = _Shard(tmp_path / "x.tar", tmp_path / "x.tar.part")
    shard.add(members)
    shard.close()
    expected = io.BytesIO()
    with tarfile.open(fileobj=expected, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            if len(name) > 100:
                tar.format = tarfile.PAX_FORMAT
            tar.addfile(info, io.BytesIO(data))
            tar.format = tarfile.USTAR_FORMAT
    ours = (tmp_path / "x.tar.part").read_bytes()
    assert ours == expected.getvalue(), "shards must be byte-identical to tarfile's archives"
    with tarfile.open(tmp_path / "x.tar.part") as tar:
        assert [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()] == members
