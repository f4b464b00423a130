"""WARC reading: records and counted skips; damage is built byte-exact, so every outcome is fixed."""

import os
from collections import Counter
from pathlib import Path

import pytest

from mimo.data.warc import (
    FILE_SKIP_REASONS,
    PageToWrite,
    WarcInputError,
    iter_warc_html,
    read_warc_file,
    write_warc,
)

# A gzip member that can never decode: a valid 10-byte gzip header (deflate, no flags, mtime 0),
# then a deflate block header with BFINAL=1 and the reserved block type 3, then CRC32 and ISIZE.
UNDECODABLE_MEMBER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"\x07" + b"\x00" * 8


def _pages(n=5):
    return [PageToWrite(f"https://ex.com/{i}", f"<html><body><p>page {i} ".encode() + b"x" * 2000 + b"</p></body></html>")
            for i in range(n)]


def _members(tmp_path: Path, n: int = 5) -> list[bytes]:
    """One gzip member per page, each written as its own WARC file: exact member boundaries."""
    out = []
    for i, page in enumerate(_pages(n)):
        path = tmp_path / f"m{i}.warc.gz"
        write_warc([page], str(path))
        out.append(path.read_bytes())
    return out


def test_roundtrip_keeps_urls_payloads_and_charset(tmp_path):
    path = tmp_path / "a.warc.gz"
    pages = _pages() + [PageToWrite("https://ex.com/l1", b"<p>caf\xe9</p>", content_type="text/html; charset=ISO-8859-1")]
    assert write_warc(pages, str(path)) == 6
    recs = list(iter_warc_html(str(path)))
    assert [r.url for r in recs] == [p.url for p in pages]
    assert recs[0].payload == pages[0].payload and recs[0].http_status == 200
    assert recs[-1].http_charset == "iso-8859-1"
    assert recs[0].offset == 0 and recs[1].offset > 0


def test_written_files_are_byte_identical_and_record_ids_unique(tmp_path):
    write_warc(_pages(), str(tmp_path / "a.warc.gz"))
    (tmp_path / "again").mkdir()
    write_warc(_pages(), str(tmp_path / "again" / "a.warc.gz"))
    assert (tmp_path / "a.warc.gz").read_bytes() == (tmp_path / "again" / "a.warc.gz").read_bytes()
    ids = [r.record_id for r in iter_warc_html(str(tmp_path / "a.warc.gz"))]
    assert len(set(ids)) == 5 and all(i.startswith("<urn:uuid:") for i in ids)


def test_non_html_and_oversized_records_are_counted_skips(tmp_path):
    path = tmp_path / "b.warc.gz"
    write_warc([PageToWrite("https://ex.com/img", b"\x89PNG", content_type="image/png")] + _pages(2), str(path))
    reasons = [r.skip_reason for r in iter_warc_html(str(path), max_payload_bytes=1000)]
    assert reasons == ["not_html", "too_large", "too_large"]


def test_corrupt_member_is_skipped_and_reading_resumes(tmp_path):
    parts = _members(tmp_path)
    bad = tmp_path / "c.warc.gz"
    bad.write_bytes(b"".join(parts[:2]) + UNDECODABLE_MEMBER + b"".join(parts[3:]))
    recs = list(iter_warc_html(str(bad)))
    assert [r.skip_reason for r in recs] == [None, None, "corrupt_record", None, None]
    assert recs[2].offset == len(parts[0]) + len(parts[1])
    assert [r.url for r in recs if not r.skip_reason] == [f"https://ex.com/{i}" for i in (0, 1, 3, 4)]
    assert read_warc_file(str(bad)).skip_reason is None  # damage inside the file: the file itself is whole


def test_crc_broken_member_is_a_corrupt_record(tmp_path):
    parts = _members(tmp_path, 3)
    broken = bytearray(parts[1])
    broken[-8] ^= 0xFF  # the CRC32 of the trailer no longer matches the data
    path = tmp_path / "crc.warc.gz"
    path.write_bytes(parts[0] + bytes(broken) + parts[2])
    assert [r.skip_reason for r in iter_warc_html(str(path))] == [None, "corrupt_record", None]


@pytest.mark.parametrize("member", [0, 1, 2])
def test_any_damaged_byte_costs_at_most_its_own_record(tmp_path, member):
    parts = _members(tmp_path, 3)
    others = {f"https://ex.com/{i}" for i in range(3) if i != member}
    outcomes = Counter()
    for pos in range(0, len(parts[member]), 3):
        damaged = [bytearray(p) for p in parts]
        damaged[member][pos] ^= 0xFF
        path = tmp_path / "d.warc.gz"
        path.write_bytes(b"".join(bytes(p) for p in damaged))
        read = read_warc_file(str(path))
        reasons = [r.skip_reason for r in read.items]
        assert others <= {r.url for r in read.items if not r.skip_reason}, (pos, reasons)
        assert set(reasons) <= {None, "corrupt_record", "truncated_record"}, (pos, reasons)  # never a made-up record
        # damage that keeps the last deflate stream from ending reads like a cut: the file runs out first
        assert read.skip_reason is None or (member == 2 and read.skip_reason == "truncated"), (pos, reasons)
        outcomes[tuple(reasons)] += 1
    expected = [None, None, None]
    expected[member] = "corrupt_record"
    assert outcomes[tuple(expected)] > 0.9 * sum(outcomes.values()), outcomes


def test_truncated_file_keeps_the_records_before_the_cut(tmp_path):
    parts = _members(tmp_path)
    cut = tmp_path / "t.warc.gz"
    cut.write_bytes(b"".join(parts[:4]) + parts[4][:120])
    recs = list(iter_warc_html(str(cut)))
    assert [r.skip_reason for r in recs] == [None, None, None, None, "truncated_record"]
    read = read_warc_file(str(cut))
    assert read.skip_reason == "truncated" and "ends inside the record" in read.detail
    assert [r.url for r in read.items if not r.skip_reason] == [f"https://ex.com/{i}" for i in range(4)]


def test_every_cut_point_of_the_last_member_is_a_truncated_file(tmp_path):
    parts = _members(tmp_path, 2)
    for size in range(1, len(parts[1]), 5):
        path = tmp_path / "cut.warc.gz"
        path.write_bytes(parts[0] + parts[1][:size])
        read = read_warc_file(str(path))
        assert read.skip_reason == "truncated", size
        assert read.items[0].url == "https://ex.com/0" and read.items[0].skip_reason is None
        # None: the record's data is all there, only the gzip trailer is cut
        assert [r.skip_reason for r in read.items[1:]] in ([None], ["truncated_record"]), size


def test_undecodable_last_member_is_corrupt_not_a_cut(tmp_path):
    parts = _members(tmp_path, 2)
    path = tmp_path / "e.warc.gz"
    path.write_bytes(parts[0] + parts[1] + UNDECODABLE_MEMBER)
    read = read_warc_file(str(path))
    assert [r.skip_reason for r in read.items] == [None, None, "corrupt_record"] and read.skip_reason is None


def test_plain_warc_cut_short_is_truncated(tmp_path):
    import gzip

    plain = b"".join(gzip.decompress(p) for p in _members(tmp_path, 2))
    path = tmp_path / "p.warc"
    path.write_bytes(plain[:-300])
    read = read_warc_file(str(path))
    assert [r.skip_reason for r in read.items] == [None, "truncated_record"] and read.skip_reason == "truncated"
    path.write_bytes(plain)
    assert read_warc_file(str(path)).skip_reason is None


def test_missing_and_non_warc_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(WarcInputError, match="not found") as err:
        list(iter_warc_html(str(tmp_path / "nope.warc.gz")))
    assert err.value.reason == "missing"
    (tmp_path / "x.warc").write_text("hello, not a warc")
    with pytest.raises(WarcInputError, match="not a WARC") as err:
        list(iter_warc_html(str(tmp_path / "x.warc")))
    assert err.value.reason == "not_warc"


def test_whole_file_problems_have_a_reason_and_never_raise(tmp_path):
    import gzip

    (tmp_path / "empty.warc.gz").write_bytes(b"")
    (tmp_path / "text.warc.gz").write_text("<html>not a warc</html>\n" * 50)
    (tmp_path / "gz.warc.gz").write_bytes(gzip.compress(b"just some gzipped text\n" * 100, mtime=0))
    (tmp_path / "dir.warc.gz").mkdir()
    expected = {"empty.warc.gz": "empty_file", "text.warc.gz": "not_warc", "gz.warc.gz": "not_warc",
                "dir.warc.gz": "not_warc", "gone.warc.gz": "missing"}
    for name, reason in expected.items():
        read = read_warc_file(str(tmp_path / name))
        assert (read.skip_reason, read.items) == (reason, []), name
        assert read.skip_reason in FILE_SKIP_REASONS and read.detail
    assert list(iter_warc_html(str(tmp_path / "empty.warc.gz"))) == []


def test_damaged_first_member_is_not_mistaken_for_a_non_warc(tmp_path):
    parts = _members(tmp_path, 3)
    path = tmp_path / "f.warc.gz"
    path.write_bytes(b"\x00\x00\x00" + parts[0][3:] + parts[1] + parts[2])  # gzip magic of record 0 gone
    read = read_warc_file(str(path))
    assert read.skip_reason is None
    assert [r.skip_reason for r in read.items] == ["corrupt_record", None, None]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_skipped_with_its_reason(tmp_path):
    path = tmp_path / "locked.warc.gz"
    write_warc(_pages(1), str(path))
    path.chmod(0)
    try:
        read = read_warc_file(str(path))
    finally:
        path.chmod(0o644)
    assert (read.skip_reason, read.items) == ("unreadable", []) and "Permission denied" in read.detail


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux /proc")
def test_io_error_while_reading_is_unreadable(tmp_path):
    path = tmp_path / "io.warc.gz"
    path.symlink_to("/proc/self/mem")  # opens fine, reading at byte 0 fails with EIO (for root too)
    read = read_warc_file(str(path))
    assert (read.skip_reason, read.items) == ("unreadable", []) and "Input/output error" in read.detail
