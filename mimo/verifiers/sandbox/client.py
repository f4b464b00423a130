"""Client of the judge service (``mimo reward serve``), standard library only."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

BATCH = 64


class JudgeClient:
    """Score code items on a remote judge; unreachable judges give ``error`` items, never zeros."""

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 900.0, retries: int = 2):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self.retries = retries

    def _request(self, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method="GET" if body is None else "POST")
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            return json.loads(resp.read())

    def health(self) -> dict:
        """The judge's ``/health`` (isolation in force)."""
        return self._request("/health")

    def _score_batch(self, items: list, scheme: str, level_scores: Any) -> list[dict]:
        body = {"items": items, "scheme": scheme, "level_scores": level_scores}
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                results = self._request("/v1/score", body)["results"]
                if len(results) != len(items):
                    raise ValueError("judge returned a wrong number of results")
                return results
            except urllib.error.HTTPError as e:
                if 400 <= e.code < 500:
                    raise ValueError(f"judge rejected the request: {e.code} {e.read()[:300]!r}") from None
                last = e
            except (urllib.error.URLError, OSError, ValueError, KeyError) as e:
                last = e
            if attempt < self.retries:
                time.sleep(min(5.0, 0.5 * 2 ** attempt))
        detail = f"judge unreachable: {type(last).__name__}: {last}"
        return [{"id": it.get("id") if isinstance(it, Mapping) else None, "reward": 0.0, "passed": [],
                 "status": "error", "test_status": [], "detail": detail} for it in items]

    def score(self, items: Sequence[Mapping[str, Any]], *, scheme: str = "vanilla",
              level_scores: Any = None) -> list:
        """Like :func:`mimo.verifiers.code.score_code`, on the judge."""
        from mimo.verifiers.code import CodeScore

        if isinstance(level_scores, Mapping):
            level_scores = {str(k): v for k, v in level_scores.items()}
        elif level_scores is not None:
            level_scores = list(level_scores)
        out: list = []
        items = list(items)
        for i in range(0, len(items), BATCH):
            out += [CodeScore.from_dict(d) for d in self._score_batch(items[i:i + BATCH], scheme, level_scores)]
        return out
