from collections import Counter

import pytest

from mimo.data.warc import PageToWrite, WarcInputError, iter_warc_html, write_warc


def _pages(n=5):
    return [PageToWrite(f"https://ex.com/{i}", f"<html><body><p>page {i} ".encode() + b"x" * 2000 + b"</p></body></html>")
            for i in range(n)]


def test_roundtrip_keeps_urls_payloads_and_charset(tmp_path):
    path = tmp_path / "a.warc.gz"
    pages = _pages() + [PageToWrite("https://ex.com/l1", b"<p>caf\xe9</p>", content_type="text/html; charset=ISO-8859-1")]
    assert write_warc(pages, str(path)) == 6
    recs = list(iter_warc_html(str(path)))
    assert [r.url for r in recs] == [p.url for p in pages]
    assert recs[0].payload == pages[0].payload and recs[0].http_status == 200
    assert recs[-1].http_charset == "iso-8859-1"
    assert recs[0].offset == 0 and recs[1].offset > 0


def test_non_html_and_oversized_records_are_counted_skips(tmp_path):
    path = tmp_path / "b.warc.gz"
    write_warc([PageToWrite("https://ex.com/img", b"\x89PNG", content_type="image/png")] + _pages(2), str(path))
    reasons = [r.skip_reason for r in iter_warc_html(str(path), max_payload_bytes=1000)]
    assert reasons == ["not_html", "too_large", "too_large"]


def test_corrupt_member_is_skipped_and_reading_resumes(tmp_path):
    good = tmp_path / "g.warc.gz"
    write_warc(_pages(), str(good))
    raw = bytearray(good.read_bytes())
    members = [i for i in range(len(raw)) if raw[i:i + 3] == b"\x1f\x8b\x08"]
    assert raw[members[2] + 3] == 0  # no optional gzip header fields: the deflate data starts at byte 10
    raw[members[2] + 10] = 0x07  # final block of the reserved type 3: always a decompression error
    raw[members[2] + 40: members[2] + 80] = b"\x00" * 40
    bad = tmp_path / "c.warc.gz"
    bad.write_bytes(bytes(raw))
    recs = list(iter_warc_html(str(bad)))
    assert [r.skip_reason for r in recs] == [None, None, "corrupt_record", None, None]
    assert [r.url for r in recs if not r.skip_reason] == ["https://ex.com/0", "https://ex.com/1", "https://ex.com/3", "https://ex.com/4"]


def test_truncated_file_reports_the_lost_record(tmp_path):
    good = tmp_path / "g.warc.gz"
    write_warc(_pages(), str(good))
    raw = good.read_bytes()
    last = raw.rfind(b"\x1f\x8b\x08")
    cut = tmp_path / "t.warc.gz"
    cut.write_bytes(raw[: last + 120])
    recs = list(iter_warc_html(str(cut)))
    assert Counter(r.skip_reason for r in recs) == Counter({None: 4, "truncated_record": 1})


def test_missing_and_non_warc_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(WarcInputError, match="not found"):
        list(iter_warc_html(str(tmp_path / "nope.warc.gz")))
    (tmp_path / "x.warc").write_text("hello, not a warc")
    with pytest.raises(WarcInputError, match="not a WARC"):
        list(iter_warc_html(str(tmp_path / "x.warc")))
