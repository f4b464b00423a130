"""The judge service: same results as local scoring, auth, bad requests, unreachable judges."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request

import pytest

from mimo.verifiers.code import score_code
from mimo.verifiers.sandbox.client import JudgeClient
from mimo.verifiers.sandbox.service import make_server

ITEMS = [
    {"id": "ok", "response": "a, b = map(int, input().split())\nprint(a + b)", "tests": [
        {"input": "1 2", "output": "3", "level": 1}, {"input": "2 2", "output": "4", "level": 2}]},
    {"id": "half", "response": "a, b = map(int, input().split())\nprint(3)", "tests": [
        {"input": "1 2", "output": "3", "level": 1}, {"input": "2 2", "output": "4", "level": 2}]},
    {"id": "fn", "response": "def sq(x):\n    return x * x", "tests": [{"assert": "assert sq(3) == 9"}]},
    {"id": "bad", "response": "print(1)", "tests": "nope"},
]


@pytest.fixture(scope="module")
def judge():
    server = make_server("127.0.0.1", 0, workers=2, token="t0ken")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_remote_scores_equal_local_scores(judge):
    remote = JudgeClient(judge.url, token="t0ken").score(ITEMS, scheme="strict")
    local = score_code(ITEMS, scheme="strict")
    assert [r.to_dict() for r in remote] == [r.to_dict() for r in local]
    assert [r.reward for r in remote] == [1.0, 0.5, 1.0, 0.0]
    via_url = score_code(ITEMS[:1], judge_url=judge.url, judge_token="t0ken", scheme="soft", level_scores={1: 1, 2: 3})
    assert via_url[0].reward == 1.0


def test_health_reports_isolation(judge):
    health = JudgeClient(judge.url).health()
    assert health["ok"] is True and health["isolation"]["isolation"] == "bubblewrap"


def test_token_required_and_bad_requests_rejected(judge):
    with pytest.raises(ValueError, match="401"):
        JudgeClient(judge.url, token="wrong").score(ITEMS[:1])
    req = urllib.request.Request(judge.url + "/v1/score", data=json.dumps({"items": [], "scheme": "lenient"}).encode(),
                                 headers={"Authorization": "Bearer t0ken"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 400


def test_unreachable_judge_reports_errors_not_zeros():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    scores = JudgeClient(f"http://127.0.0.1:{port}", retries=0, timeout_s=5).score(ITEMS[:2])
    assert [s.status for s in scores] == ["error", "error"]
    assert all("unreachable" in s.detail for s in scores)
