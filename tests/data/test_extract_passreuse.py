"""trafilatura's pass with fallbacks reuses the fast pass's work on the same page, with the same
output as two independent passes."""

import gzip
from dataclasses import replace

import pytest

from mimo.data.extract import ExtractConfig
from mimo.data.extract.core import _to_text, parse_html
from mimo.data.extract.mainpass import run_trafilatura
from mimo.data.extract.passreuse import _MEMO, shared_passes
from mimo.data.extract.profiles import typed_config


@pytest.mark.parametrize("file_id, kind", [("0076", "listing"), ("0084", "service"), ("0152", "article")])
def test_the_fallback_pass_reuses_the_fast_pass_with_identical_output(shared_dir, file_id, kind):
    """WCXB dev pages whose fast pass covers under a fifth of the page, so both passes run."""
    html = _to_text(gzip.decompress((shared_dir / f"benchmarks/wcxb-dev/dev/html/{file_id}.html.gz").read_bytes()),
                    None)[0]
    root = parse_html(html)
    config = typed_config(kind, ExtractConfig(page_types=True))
    apart = (run_trafilatura(root, None, replace(config, fast=True)), run_trafilatura(root, None, config))
    with shared_passes() as memo:
        together = (run_trafilatura(root, None, replace(config, fast=True)), run_trafilatura(root, None, config))
    assert together == apart and apart[0] != apart[1]
    assert any(key[0] == "prepare" for key in memo) and any(key[0] == "html2txt" for key in memo)
    assert _MEMO.get() is None  # nothing is shared outside the block
