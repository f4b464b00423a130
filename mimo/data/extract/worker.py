"""The guarded extraction worker: ``python -m mimo.data.extract.worker RFD WFD CONFIG_JSON``.

Runs in its own interpreter (started by GuardedExtractor), warms up, caps its address space with
RLIMIT_AS, then answers one pickled ExtractOutcome per (payload, url, charset_hint) message."""

from __future__ import annotations

import json
import signal
import sys
from multiprocessing.connection import Connection

from lxml import etree

from mimo.data.extract.config import ExtractConfig, ExtractOutcome

_MB = 1024 * 1024
_WARMUP = ("<html><head><title>w</title></head><body><article><p>Warm-up paragraph with $x^2$ and "
           "enough words to be extracted.</p><pre>x = 1</pre></article></body></html>")


def _limit_memory(limit_mb: int) -> None:
    """Cap the worker's address space at its current size plus ``limit_mb``."""
    try:
        import resource

        import psutil

        base = psutil.Process().memory_info().vms
        limit = base + limit_mb * _MB
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError):  # pragma: no cover - non-Linux
        pass


def _worker_loop(rconn: Connection, wconn: Connection, config: ExtractConfig) -> None:
    """Worker loop: receive (payload, url, charset_hint), send back an ExtractOutcome."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    from mimo.data.extract.core import extract_html

    # warm up (language model, BLAS buffers) before the cap so that it measures the page alone
    extract_html(_WARMUP, config=config)
    _limit_memory(config.memory_limit_mb)
    wconn.send("ready")
    while True:
        try:
            msg = rconn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        payload, url, hint = msg
        try:
            out = extract_html(payload, url=url, config=config, charset_hint=hint)
        except MemoryError:
            out = ExtractOutcome.skipped("memory")
        except etree.XPathEvalError as err:  # libxml2 reports a failed allocation as "unknown error"
            out = ExtractOutcome.skipped("memory" if str(err) == "unknown error" else "parse_error")
        except Exception:  # noqa: BLE001 - any library failure is a parse failure of this page
            out = ExtractOutcome.skipped("parse_error")
        del payload, msg
        try:
            wconn.send(out)
        except MemoryError:
            wconn.send(ExtractOutcome.skipped("memory"))
        if out.skip_reason == "memory":
            return  # leave with a clean heap; the parent respawns


def worker_main(argv: list[str]) -> None:
    """Entry point of ``python -m mimo.data.extract.worker RFD WFD CONFIG_JSON``."""
    rfd, wfd, cfg = int(argv[0]), int(argv[1]), json.loads(argv[2])
    _worker_loop(Connection(rfd, writable=False), Connection(wfd, readable=False), ExtractConfig(**cfg))


if __name__ == "__main__":
    worker_main(sys.argv[1:])
