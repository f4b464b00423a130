"""Browser test of the Dagster UI: scripts/dagster-ui.sh serves the state of the session's tiny run,
headless Chromium (Debian's `chromium` + `chromium-driver`, driven by selenium) finds the pipeline's
assets in the catalog and the global asset graph, opens the `sft_model` checkpoint and sees its
materialization metadata (the values the lake catalog holds) and its upstream lineage.

Screenshots (PNG) and the UI's log go to `$MIMO_TEST_ARTIFACTS/ui/` (default `<repo>/.test-artifacts/ui/`).
"""

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import pytest

from tests.ui.ui_server import graphql, start_ui, stop_ui

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ["MIMO_TEST_ARTIFACTS"]) / "ui" if os.environ.get("MIMO_TEST_ARTIFACTS") else REPO / ".test-artifacts/ui"
CHECKPOINT = "sft_model"
# what any tiny run must show (the rest of the expected names comes from the lake catalog and the UI's own API)
CHECKPOINT_UPSTREAM = {"pretrain_stage3", "sft_data"}
CHECKPOINT_DOWNSTREAM = {"rl_model", "rl_math_problems", "rl_code_problems"}
FAR_UPSTREAM = {"tokenizer", "filtered_corpus", "deduplicated_pages", "crawl_warc"}
METADATA_LABELS = {"path", "artifact_id", "content_hash", "upstream_artifacts", "git_commit", "steps", "val_loss_main",
                   "tokens_by_stage", "cluster/backend"}
PAGE_TIMEOUT = 120  # seconds for the React app to show what a check waits for (2-core machine, a run may be going)

pytestmark = [pytest.mark.timeout(1800), pytest.mark.slow]  # the session fixture `tiny_run` runs the whole tiny graph


@pytest.fixture(scope="session")
def browser_binaries():
    """Chromium and its driver from Debian (scripts/system-deps.sh installs them). Session-scoped and first in
    the test's arguments: checked before the session fixture `tiny_run` runs the pipeline."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.fail("headless Chromium needs Debian's chromium and chromium-driver: "
                    "sudo apt-get install -y chromium chromium-driver (scripts/system-deps.sh does it as root)")
    return chromium, driver


@pytest.fixture(scope="module")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):  # only this run's screenshots are asserted on
        old.unlink()
    return ARTIFACTS


def _graphql(port: int, query: str) -> dict:
    return graphql(port, query, timeout=10)


@pytest.fixture(scope="module")
def dagster_ui(tiny_run, browser_binaries, artifacts_dir):
    """The real UI (scripts/dagster-ui.sh) on a free port over the tiny run's state: (base URL, asset nodes)."""
    _, env, _ = tiny_run
    with open(artifacts_dir / "dagster-ui.log", "w") as log:
        try:
            proc, port = start_ui(env, log)
        except RuntimeError as exc:
            pytest.fail(f"{exc}; see {artifacts_dir / 'dagster-ui.log'}")
        try:
            nodes = _graphql(port, "{ assetNodes { assetKey { path } groupName dependencyKeys { path } } }")["assetNodes"]
            yield f"http://127.0.0.1:{port}", nodes
        finally:
            stop_ui(proc)


@pytest.fixture(scope="module")
def browser(browser_binaries):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = browser_binaries
    profile = tempfile.mkdtemp(prefix="mimo-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium  # with both paths given, selenium never downloads a browser or driver
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1600,1200",
                f"--user-data-dir={profile}", "--no-first-run", "--disable-extensions", "--lang=en-US"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _lines(driver) -> list[str]:
    text = driver.execute_script("return document.body ? document.body.innerText : ''") or ""
    return [line.strip() for line in text.splitlines() if line.strip()]


def _shown(name: str, lines: list[str]) -> bool:
    """An asset name as a line of its own; graph nodes shorten long names in the middle (`pretrain_d…_stage3`)."""
    for line in lines:
        if line == name:
            return True
        if "…" in line:
            head, _, tail = line.partition("…")
            if len(head) >= 3 and len(tail) >= 3 and name.startswith(head) and name.endswith(tail):
                return True
    return False


def _poll(driver, names, texts=(), timeout=PAGE_TIMEOUT) -> tuple[list[str], list[str]]:
    """Poll the page until every name is a line of its own and every text is somewhere in it, or the timeout:
    (the page's lines, what is missing)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = _lines(driver)
        body = "\n".join(lines)
        missing = [n for n in names if not _shown(n, lines)] + [t for t in texts if t not in body]
        if not missing or time.monotonic() > deadline:
            return lines, missing
        time.sleep(1)


def _wait_for(driver, names, shots: Path, what: str, texts=(), timeout=PAGE_TIMEOUT) -> list[str]:
    """`_poll`, failing with a screenshot `<what>-timeout.png` when something is missing; the page's lines."""
    lines, missing = _poll(driver, names, texts, timeout)
    if missing:
        shot = shots / f"{what}-timeout.png"
        driver.save_screenshot(str(shot))
        pytest.fail(f"{what}: {missing} not shown at {driver.current_url} after {timeout} s (screenshot {shot}); "
                    "page text: " + " | ".join(lines)[:2000])
    return lines


def _wait_for_edges(driver, at_least: int, what: str, timeout=PAGE_TIMEOUT) -> int:
    """The graph's edges are SVG paths ending in an arrow marker (not a CSS class): wait for `at_least` of them."""
    deadline = time.monotonic() + timeout
    while True:
        n = driver.execute_script("return document.querySelectorAll('svg path[marker-end]').length")
        if n >= at_least:
            return n
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: {n} edges drawn at {driver.current_url}, expected at least {at_least}")
        time.sleep(1)


def _screenshot(driver, path: Path, settle: float = 3.0) -> Path:
    time.sleep(settle)  # let statuses and edges that load after the names paint
    assert driver.save_screenshot(str(path)), path
    return path


def _assert_real_png(path: Path) -> None:
    from PIL import Image

    assert path.exists() and path.stat().st_size > 20_000, (path, path.stat().st_size if path.exists() else None)
    with Image.open(path) as img:
        assert img.format == "PNG" and img.width >= 1000 and img.height >= 700, (path, img.size)
        colors = img.convert("RGB").getcolors(maxcolors=1_000_000)
        assert colors is None or len(colors) > 50, (path, "looks blank")


def _lake_latest(state: Path, asset: str) -> dict:
    with duckdb.connect(str(state / "lake/_catalog/catalog.duckdb"), read_only=True) as con:
        row = con.execute("SELECT artifact_id, path, metadata FROM latest_artifacts WHERE asset_key = ? "
                          "ORDER BY created_at DESC LIMIT 1", [asset]).fetchone()
        keys = {k for (k,) in con.execute("SELECT DISTINCT asset_key FROM latest_artifacts").fetchall()}
    assert row is not None, asset
    return {"artifact_id": row[0], "path": row[1], "metadata": json.loads(row[2]), "asset_keys": keys}


def test_browser_sees_asset_graph_checkpoint_metadata_and_lineage(browser_binaries, tiny_run, dagster_ui, browser,
                                                                  artifacts_dir):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    state, _, _ = tiny_run
    base, nodes = dagster_ui
    lake = _lake_latest(state, CHECKPOINT)
    # every asset the lake holds (not its per-shard rows) is a node of the served graph, and is listed in the browser
    served = {"/".join(n["assetKey"]["path"]) for n in nodes}
    in_lake = {k for k in lake["asset_keys"] if "/" not in k}
    assert in_lake <= served, in_lake - served
    assert {CHECKPOINT, *CHECKPOINT_UPSTREAM, *CHECKPOINT_DOWNSTREAM, *FAR_UPSTREAM} <= in_lake
    groups = {n["groupName"] for n in nodes if "/".join(n["assetKey"]["path"]) in in_lake}  # materialized assets' groups
    assert {"pretraining", "sft", "rl"} <= groups
    shots = []

    # 1. the catalog lists every materialized asset (the list renders the rows in view: a window tall enough for all)
    browser.set_window_size(1600, 400 + 70 * len(in_lake))
    browser.get(f"{base}/assets")
    _wait_for(browser, sorted(in_lake), artifacts_dir, "catalog", texts=("Materialized",))
    shots.append(_screenshot(browser, artifacts_dir / "01-catalog.png"))

    # 2. the global asset graph: one box per group, then (Alt+E, the UI's "expand all groups") every asset. The
    # graph is zoomed to fit and draws node labels only above a minimum zoom: a wide window, wider if needed.
    browser.set_window_size(2400, 1500)
    browser.get(f"{base}/asset-groups")
    _wait_for(browser, sorted(groups), artifacts_dir, "asset-graph-groups", texts=("Global asset lineage",))
    shots.append(_screenshot(browser, artifacts_dir / "02-asset-graph-groups.png"))
    ActionChains(browser).key_down(Keys.ALT).send_keys("e").key_up(Keys.ALT).perform()
    for width, height in ((3600, 2000), (4000, 4400)):  # bigger windows until the fitted graph shows every label
        if not _poll(browser, sorted(in_lake), timeout=45)[1]:
            break
        assert "expanded=" in browser.current_url, browser.current_url  # the groups did expand: zoom, not content
        browser.set_window_size(width, height)
        browser.get(browser.current_url)
    _wait_for(browser, sorted(in_lake), artifacts_dir, "asset-graph")
    non_roots = sum(1 for n in nodes if "/".join(n["assetKey"]["path"]) in in_lake and n["dependencyKeys"])
    _wait_for_edges(browser, non_roots, "asset graph")  # at least one edge into every asset with an upstream
    shots.append(_screenshot(browser, artifacts_dir / "03-asset-graph.png"))
    browser.set_window_size(1600, 1200)

    # 3. the checkpoint's page: materialization metadata with the lake catalog's values, and its neighbours
    browser.get(f"{base}/assets/{CHECKPOINT}")
    meta = lake["metadata"]
    values = (lake["artifact_id"], lake["path"], str(meta["steps"]))
    lines = _wait_for(browser, sorted(METADATA_LABELS | CHECKPOINT_UPSTREAM), artifacts_dir, "checkpoint",
                      texts=("Metadata", "Upstream assets", "Downstream assets", *values))
    for label in ("steps", "val_loss_main"):  # label, timestamp, value: rows of the metadata table
        at = lines.index(label)
        assert str(meta[label]) in lines[at + 1:at + 4], (label, meta[label], lines[at:at + 4])
    upstream = set(lines[lines.index("Upstream assets") + 1:lines.index("Downstream assets")])
    assert CHECKPOINT_UPSTREAM <= upstream and not upstream & CHECKPOINT_DOWNSTREAM, upstream
    downstream = set(lines[lines.index("Downstream assets") + 1:])
    assert CHECKPOINT_DOWNSTREAM <= downstream, downstream
    shots.append(_screenshot(browser, artifacts_dir / "04-checkpoint-metadata.png"))
    heading = browser.find_element(By.XPATH, "//*[normalize-space(text())='Upstream assets']")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", heading)
    time.sleep(1)
    shots.append(_screenshot(browser, artifacts_dir / "05-checkpoint-neighbours.png"))

    # 4. the lineage tab, upstream only, deep enough to reach the crawl: ancestors shown, descendants not
    browser.get(f"{base}/assets/{CHECKPOINT}?view=lineage&lineageScope=upstream&lineageDepth=20")
    lines = _wait_for(browser, sorted({CHECKPOINT} | CHECKPOINT_UPSTREAM | FAR_UPSTREAM), artifacts_dir, "lineage",
                      texts=("Upstream",))
    _wait_for_edges(browser, len(CHECKPOINT_UPSTREAM | FAR_UPSTREAM), "upstream lineage")  # each has an edge out
    shown_downstream = [n for n in CHECKPOINT_DOWNSTREAM if _shown(n, lines)]
    assert not shown_downstream, f"upstream lineage of {CHECKPOINT} shows its descendants {shown_downstream}"
    shots.append(_screenshot(browser, artifacts_dir / "06-checkpoint-upstream-lineage.png"))

    for path in shots:
        _assert_real_png(path)
