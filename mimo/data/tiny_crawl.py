"""Build the tiny profile's crawl: real pages packed into WARC files, with planted problems.

Sources: the 181 real pages of ``shared/benchmarks/article_extraction`` and the project's own
math/code pages in ``data/tiny/pages`` (MathJax, KaTeX, MathML, WordPress LaTeX images,
highlighted code, forum Q&A). Spread over three "dumps" so that dedup must work globally, with
planted exact duplicates, URL re-crawls, near duplicates, a page that leaks benchmark problems
(for decontamination) and bad input (truncated/corrupt records, wrong encodings, empty, huge,
deeply nested and binary pages). Everything planted is listed in ``planted.json``.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from mimo.data.warc import PageToWrite, write_warc

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SHARED = REPO_ROOT.parent / "shared"
PAGES_DIR = REPO_ROOT / "data" / "tiny" / "pages"
_WORD = re.compile(r"(?<=>)([^<]{40,})(?=<)")


@dataclass
class Planted:
    """What was planted where, for tests and benchmarks."""

    exact_duplicates: list[tuple[str, str]]
    url_duplicates: list[tuple[str, str]]
    near_duplicates: list[tuple[str, str]]
    contaminated_urls: list[str]
    bad_records: dict[str, str]
    n_pages: int


def _load_benchmark_pages(shared: Path) -> list[tuple[str, bytes]]:
    root = shared / "benchmarks" / "article_extraction"
    truth = json.loads((root / "ground-truth.json").read_text())
    pages = []
    for sha in sorted(truth):
        path = root / "html" / f"{sha}.html.gz"
        if path.exists():
            pages.append((truth[sha].get("url") or f"https://example.org/{sha}", gzip.decompress(path.read_bytes())))
    return pages


def _load_fixture_pages() -> list[tuple[str, bytes, str]]:
    manifest = PAGES_DIR / "manifest.json"
    if not manifest.exists():
        return []
    pages = []
    for item in json.loads(manifest.read_text()):
        raw = (PAGES_DIR / item["file"]).read_bytes()
        enc = "windows-1252" if b'charset="windows-1252"' in raw[:2000] or b"charset=windows-1252" in raw[:2000] else "utf-8"
        pages.append((item["url"], raw, enc))
    return pages


def _perturb(html: bytes, rng: random.Random, n_edits: int = 6) -> bytes:
    """A near duplicate: a few words of longer text runs replaced, plus a different footer."""
    text = html.decode("utf-8", errors="replace")
    runs = list(_WORD.finditer(text))
    if not runs:
        return html + b"<!-- mirror -->"
    out, last = [], 0
    for match in sorted(rng.sample(runs, min(n_edits, len(runs))), key=lambda m: m.start()):
        words = match.group(1).split(" ")
        i = rng.randrange(len(words))
        words[i] = rng.choice(["indeed", "notably", "also", "really", "today"])
        out.append(text[last:match.start()] + " ".join(words))
        last = match.end()
    out.append(text[last:])
    mirrored = "".join(out).replace("</body>", "<footer><p>Mirrored by pagecache.example</p></footer></body>")
    return mirrored.encode("utf-8")


def _contaminated_page(shared: Path) -> bytes:
    problems = [json.loads(line) for line in (shared / "benchmarks" / "math500.jsonl").read_text().splitlines()[:3]]
    aime = [json.loads(line) for line in (shared / "benchmarks" / "aime24.jsonl").read_text().splitlines()[:1]]
    items = "".join(f"<h2>Problem {i + 1}</h2><p>{p['problem']}</p><p>Answer: {p['answer']}</p>"
                    for i, p in enumerate(problems + aime))
    return (f"<!doctype html><html><head><title>Homework answers leaked</title></head><body>"
            f"<article><h1>Free answers to this week's contest problems</h1>{items}</article></body></html>").encode()


def _bad_pages() -> list[PageToWrite]:
    nested = "<html><body>" + "<div>" * 100_000 + "deep" + "</div>" * 100_000 + "</body></html>"
    huge = "<html><body>" + "<p>" + ("filler text " * 4_500_000) + "</p></body></html>"  # ~54 MB
    latin1 = ("<html><head><title>Caf\xe9 cr\xe8me</title></head><body><article><p>"
              + "Le caf\xe9 cr\xe8me est tr\xe8s appr\xe9ci\xe9 \xe0 Paris. " * 30 + "</p></article></body></html>")
    return [
        PageToWrite("https://bad.example/empty", b""),
        PageToWrite("https://bad.example/nested", nested.encode()),
        PageToWrite("https://bad.example/huge", huge.encode()),
        PageToWrite("https://bad.example/binary.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40),
        PageToWrite("https://bad.example/latin1-labelled-utf8", latin1.encode("latin-1")),
    ]


def build_tiny_crawl(out_dir: str, shared_dir: str | None = None, seed: int = 7, n_dumps: int = 3) -> Planted:
    """Write ``dump-XX.warc.gz`` files plus ``planted.json`` into ``out_dir``; deterministic."""
    shared = Path(shared_dir) if shared_dir else DEFAULT_SHARED
    if not (shared / "benchmarks").exists():
        raise FileNotFoundError(f"shared benchmarks not found under {shared} (pass --shared)")
    rng = random.Random(seed)
    base = [PageToWrite(url, raw) for url, raw in _load_benchmark_pages(shared)]
    base += [PageToWrite(url, raw, content_type=f"text/html; charset={enc}") for url, raw, enc in _load_fixture_pages()]
    rng.shuffle(base)
    dumps: list[list[PageToWrite]] = [base[i::n_dumps] for i in range(n_dumps)]
    exact, urls, near = [], [], []
    for k, page in enumerate(rng.sample(base, 12)):  # exact copies under a mirror URL, other dump
        mirror = page.url.replace("://", "://mirror.", 1)
        copy = PageToWrite(mirror + ("&" if "?" in mirror else "?") + f"copy={k}", page.payload, page.content_type)
        dumps[(k + 1) % n_dumps].append(copy)
        exact.append((page.url, copy.url))
    for k, page in enumerate(rng.sample(base, 8)):  # re-crawls of the same URL with tracking params
        sep = "&" if "?" in page.url else "?"
        again = PageToWrite(page.url + f"{sep}utm_source=feed&utm_medium=rss#top", page.payload, page.content_type)
        dumps[(k + 2) % n_dumps].append(again)
        urls.append((page.url, again.url))
    for k, page in enumerate(rng.sample(base, 12)):  # near duplicates: small edits, new footer
        if "charset=utf-8" not in page.content_type:
            continue
        variant = PageToWrite(f"https://pagecache.example/{k}/" + page.url.split("://", 1)[-1],
                              _perturb(page.payload, rng), page.content_type)
        dumps[k % n_dumps].append(variant)
        near.append((page.url, variant.url))
    leak = PageToWrite("https://homework-leaks.example/week-12", _contaminated_page(shared))
    dumps[0].append(leak)
    bad = _bad_pages()
    for k, page in enumerate(bad):
        dumps[k % n_dumps].append(page)
    os.makedirs(out_dir, exist_ok=True)
    for i, pages in enumerate(dumps):
        write_warc(pages, os.path.join(out_dir, f"dump-{i:02d}.warc.gz"))
    bad_records = {p.url: reason for p, reason in zip(bad, ["empty", "nested", "too_large", "binary", "mislabeled_encoding"])}
    bad_records.update(_damage_last_dump(os.path.join(out_dir, f"dump-{n_dumps - 1:02d}.warc.gz")))
    planted = Planted(exact, urls, near, [leak.url], bad_records, sum(len(d) for d in dumps))
    with open(os.path.join(out_dir, "planted.json"), "w") as fh:
        json.dump(asdict(planted), fh, indent=1)
    return planted


def _damage_last_dump(path: str) -> dict[str, str]:
    """Append a corrupt gzip member and a truncated record, as broken crawls have."""
    members = []
    for page in (PageToWrite("https://bad.example/corrupt", b"<html><body>" + b"lost " * 500 + b"</body></html>"),
                 PageToWrite("https://bad.example/truncated", b"<html><body>" + b"cut " * 2000 + b"</body></html>")):
        extra = os.path.join(os.path.dirname(path), ".extra.warc.gz")
        write_warc([page], extra)  # one gzip member each: exact boundaries, no searching
        members.append(Path(extra).read_bytes())
        os.remove(extra)
    corrupt = bytearray(members[0])
    corrupt[30:60] = b"\xff" * 30  # garbage inside the deflate stream
    truncated = members[1][: len(members[1]) // 2]
    with open(path, "ab") as fh:
        fh.write(bytes(corrupt) + truncated)
    return {"https://bad.example/corrupt": "corrupt_record", "https://bad.example/truncated": "truncated_record"}
