"""The DuckDB catalog under concurrency, with real processes on one real catalog file: many writers
and readers at once, readers that never write, and a clear error when the lock stays held.

Run as a script, this file is the worker those tests start: ``writer``, ``reader`` or ``holder``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from mimo.lake.catalog import ArtifactRecord, Catalog, CatalogLockError

N_WRITERS, N_READERS, HAMMER_S = 3, 3, 4.0


# ---- workers (subprocesses) -------------------------------------------------------------------


def _wait_for_go(go: Path) -> None:
    """Say ready, then wait for the test to start everyone at once."""
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.01)


def _writer(path: str, tag: str, go: Path, seconds: float) -> None:
    """Record a chain of artifacts (each one the input of the next) until time is up; print each
    id once ``record`` returned."""
    cat = Catalog(path)
    _wait_for_go(go)
    deadline, previous, i = time.monotonic() + seconds, [], 0
    while time.monotonic() < deadline:
        rec = ArtifactRecord(asset_key=f"asset_{tag}", path=f"/lake/{tag}/{i}", content_hash=f"{tag}-{i}",
                             partition=tag, row_count=i, upstream_ids=previous)
        artifact_id = cat.record(rec)
        print(json.dumps({"id": artifact_id, "upstream": previous}), flush=True)
        previous, i = [artifact_id], i + 1


def _reader(path: str, go: Path, seconds: float) -> None:
    """Read (latest, query, lineage, find) until time is up; the row count never goes down."""
    cat = Catalog(path)
    _wait_for_go(go)
    deadline, seen, reads = time.monotonic() + seconds, 0, 0
    while time.monotonic() < deadline:
        n = cat.query("SELECT count(*) AS n FROM artifacts")[0]["n"]
        assert n >= seen, f"row count went down: {seen} -> {n}"
        seen = n
        for row in cat.latest("asset_w0")[:1]:
            assert cat.lineage(row["artifact_id"])[0]["artifact_id"] == row["artifact_id"]
            assert cat.find(row["path"]) is not None
        reads += 1
    print(json.dumps({"reads": reads, "rows": seen}), flush=True)


def _holder(path: str, seconds: float) -> None:
    """Hold a read-write connection open (as a DuckDB shell or a notebook would)."""
    con = duckdb.connect(path)
    print("held", flush=True)
    time.sleep(seconds)
    con.close()


# ---- helpers ----------------------------------------------------------------------------------


def _spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _rec(asset: str, i: int) -> ArtifactRecord:
    return ArtifactRecord(asset_key=asset, path=f"/lake/{asset}/{i}", content_hash=f"h{i}", row_count=i)


def _file_state(directory: Path) -> dict[str, tuple[int, int]]:
    """Every file in ``directory`` with its (mtime_ns, size)."""
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(directory.iterdir())}


# ---- tests ------------------------------------------------------------------------------------


def test_writers_and_readers_hammer_one_catalog(tmp_path):
    """N writers and M readers at once, starting from no catalog file: every recorded row and edge is
    there afterwards and no process hit a lock error."""
    path, go = str(tmp_path / "cat" / "catalog.duckdb"), tmp_path / "go"
    procs = [_spawn("writer", path, f"w{i}", str(go), str(HAMMER_S)) for i in range(N_WRITERS)]
    procs += [_spawn("reader", path, str(go), str(HAMMER_S)) for _ in range(N_READERS)]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    go.touch()
    outputs = [proc.communicate(timeout=60) for proc in procs]
    for proc, (_, err) in zip(procs, outputs):
        assert proc.returncode == 0, err[-3000:]
        assert "lock" not in err.lower(), err[-3000:]
    per_writer = [[json.loads(line) for line in out.splitlines()] for out, _ in outputs[:N_WRITERS]]
    reads = [json.loads(out.splitlines()[-1])["reads"] for out, _ in outputs[N_WRITERS:]]
    assert all(len(w) >= 2 for w in per_writer) and all(n >= 1 for n in reads), ([len(w) for w in per_writer], reads)
    written = [w for rows in per_writer for w in rows]
    cat = Catalog(path)
    ids = {r["artifact_id"] for r in cat.query("SELECT artifact_id FROM artifacts")}
    assert ids == {w["id"] for w in written}
    edges = cat.query("SELECT count(*) AS n FROM artifact_inputs")[0]["n"]
    assert edges == sum(len(w["upstream"]) for w in written)
    for i in range(N_WRITERS):  # each writer's chain reaches back to its first artifact
        newest = cat.latest(f"asset_w{i}")
        chain = cat.lineage(max(newest, key=lambda r: r["row_count"])["artifact_id"])
        assert len(chain) == len(newest) and chain[-1]["row_count"] == 0


def test_threads_of_one_process_share_the_catalog(tmp_path):
    """Writer and reader threads in one process (sensors and in-process runs): every row lands and
    no thread sees DuckDB's same-process open/close conflicts."""
    path, errors, written = str(tmp_path / "catalog.duckdb"), [], []

    def write(t: int) -> None:
        try:
            written.extend(Catalog(path).record(_rec(f"t{t}", i)) for i in range(4))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(repr(exc))

    def read() -> None:
        try:
            for _ in range(8):
                Catalog(path).latest("t0")
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))

    threads = [threading.Thread(target=write, args=(t,)) for t in range(3)]
    threads += [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert {r["artifact_id"] for r in Catalog(path).query("SELECT artifact_id FROM artifacts")} == set(written)
    assert len(written) == 12


def test_reads_never_write_and_missing_catalog_is_empty(tmp_path):
    """Reads (in-process and from another process) leave the file untouched, and reading a catalog
    that does not exist answers empty without creating it."""
    missing = tmp_path / "none" / "catalog.duckdb"
    cat = Catalog(str(missing))
    assert cat.latest("a") == [] and cat.lineage("x") == [] and cat.find("/p") is None
    assert cat.query("SELECT count(*) AS n FROM latest_artifacts")[0]["n"] == 0
    assert not missing.parent.exists()
    with pytest.raises(FileNotFoundError, match="no catalog at"):
        Catalog(str(missing), create=False)

    path = tmp_path / "cat" / "catalog.duckdb"
    cat = Catalog(str(path))
    ids = [cat.record(_rec("a", i)) for i in range(3)]
    before = _file_state(path.parent)
    assert list(before) == ["catalog.duckdb", "catalog.duckdb.write-gate"]  # no WAL or temp file left
    time.sleep(0.05)  # a write now would show in the mtime
    assert Catalog(str(path), create=False).latest("a")[0]["artifact_id"] in ids
    assert len(cat.lineage(ids[0])) == 1 and cat.find("/lake/a/2")["artifact_id"] == ids[2]
    reader = _spawn("reader", str(path), str(tmp_path / "go"), "1.0")
    assert reader.stdout.readline().strip() == "ready"
    (tmp_path / "go").touch()
    out, err = reader.communicate(timeout=30)
    assert reader.returncode == 0 and json.loads(out)["rows"] == 3, err[-3000:]
    assert _file_state(path.parent) == before


def test_old_catalog_without_schema_version_is_upgraded_on_first_write(tmp_path):
    """A catalog made before the schema was versioned reads as is and is upgraded by its next write."""
    from mimo.lake.catalog import SCHEMA, SCHEMA_VERSION

    path = str(tmp_path / "old.duckdb")
    con = duckdb.connect(path)
    con.execute(SCHEMA.split("CREATE TABLE IF NOT EXISTS schema_version")[0])
    con.close()
    cat = Catalog(path)
    assert cat.latest("a") == []
    assert cat.query("SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = 'schema_version'")[0]["n"] == 0
    cat.record(_rec("a", 0))
    assert cat.query("SELECT version FROM schema_version") == [{"version": SCHEMA_VERSION}]
    assert len(cat.latest("a")) == 1


def test_lock_held_past_the_wait_is_one_clear_error(tmp_path):
    """A process that keeps the file open read-write past the bounded wait: the writer (and a reader,
    and the CLI) fail with one clear error naming the file and the holder's PID; nothing is written."""
    path = str(tmp_path / "catalog.duckdb")
    cat = Catalog(path, lock_timeout_s=1.0)
    cat.record(_rec("a", 0))
    holder = _spawn("holder", path, "20")
    try:
        assert holder.stdout.readline().strip() == "held", holder.stderr.read()
        start = time.monotonic()
        with pytest.raises(CatalogLockError) as err:
            cat.record(_rec("a", 1))
        assert 1.0 <= time.monotonic() - start < 10
        message = str(err.value)
        assert path in message and f"process {holder.pid}" in message and "Close the other process" in message
        with pytest.raises(CatalogLockError, match="gave up reading"):
            cat.latest("a")
        env = dict(os.environ, MIMO_CATALOG_LOCK_TIMEOUT_S="0.5")
        cli = subprocess.run([sys.executable, "-m", "mimo.cli", "catalog", "SELECT 1", "--catalog", path], check=False,
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
        assert cli.returncode == 1 and cli.stderr.startswith(f"error: catalog {path} is locked by process {holder.pid}")
        assert "Traceback" not in cli.stderr
    finally:
        holder.kill()
        holder.wait()
    assert [r["row_count"] for r in cat.latest("a")] == [0]  # the failed write left nothing
    cat.record(_rec("a", 1))
    assert len(cat.latest("a")) == 2


if __name__ == "__main__":
    role, *rest = sys.argv[1:]
    if role == "writer":
        _writer(rest[0], rest[1], Path(rest[2]), float(rest[3]))
    elif role == "reader":
        _reader(rest[0], Path(rest[1]), float(rest[2]))
    elif role == "holder":
        _holder(rest[0], float(rest[1]))
    else:
        raise SystemExit(f"unknown role {role}")
