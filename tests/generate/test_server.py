"""The OpenAI-compatible server: routes, validation (400s), stop strings, the real openai client."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time

import pytest

from mimo.generate.base import SamplingParams
from mimo.generate.server import GenerationServer


@pytest.fixture(scope="module")
def server(tiny_generator):
    with GenerationServer(tiny_generator, served_model_name="tiny") as srv:
        yield srv


def _request(srv, method: str, path: str, body: bytes | dict | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=30)
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    status, payload = resp.status, json.loads(resp.read())
    conn.close()
    return status, payload


def _chat_body(**kw) -> dict:
    return {"model": "tiny", "messages": [{"role": "user", "content": "How many apples?"}], **kw}


def test_health_and_models(server):
    assert _request(server, "GET", "/health") == (200, {"status": "ok"})
    status, models = _request(server, "GET", "/v1/models")
    assert status == 200 and [m["id"] for m in models["data"]] == ["tiny"]
    assert _request(server, "GET", "/v1/nothing")[0] == 404
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1" and server.port > 0


@pytest.mark.parametrize("body", [
    b"{not json", b"\xff\xfe", b"[1, 2]",
    {"model": "tiny"},
    _chat_body(messages=[]),
    _chat_body(messages=[{"role": "user"}]),
    _chat_body(messages=[{"content": "hi"}]),
    _chat_body(messages="hi"),
    _chat_body(n=0), _chat_body(n=1.5), _chat_body(n=10**6), _chat_body(temperature=-1), _chat_body(temperature="hot"),
    _chat_body(top_p=0), _chat_body(max_tokens=0), _chat_body(max_tokens="10"),
    _chat_body(stop=5), _chat_body(stop=["a", 1]), _chat_body(seed="x"), _chat_body(stream=True),
])
def test_bad_requests_get_400(server, body):
    status, payload = _request(server, "POST", "/v1/chat/completions", body)
    assert status == 400, payload
    assert payload["error"]["type"] == "invalid_request_error" and payload["error"]["message"]


def test_unknown_model_is_404(server):
    status, payload = _request(server, "POST", "/v1/chat/completions", _chat_body(model="gpt-9"))
    assert status == 404 and payload["error"]["code"] == "model_not_found"


def test_chat_completion_shape_and_stop_as_string(server, tiny_generator):
    messages = [{"role": "user", "content": "How many apples?"}]
    [full] = tiny_generator.generate(messages, SamplingParams(temperature=1.0, max_tokens=16, seed=3))
    stop = next(full.text[i] for i in range(2, len(full.text)) if full.text[i].strip()
                and full.text[i] != "\ufffd")
    status, body = _request(server, "POST", "/v1/chat/completions",
                            _chat_body(temperature=1.0, max_completion_tokens=16, stop=stop, n=2, seed=3))
    assert status == 200, body
    assert body["object"] == "chat.completion" and body["model"] == "tiny"
    assert [c["index"] for c in body["choices"]] == [0, 1]
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == full.text[:full.text.find(stop)]
    assert choice["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["prompt_tokens"] == full.prompt_tokens
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    status, body = _request(server, "POST", "/v1/chat/completions", _chat_body(temperature=0, max_tokens=3))
    assert body["choices"][0]["finish_reason"] == "length" and body["usage"]["completion_tokens"] == 3


def test_official_openai_client_parses_the_response(server):
    import openai

    client = openai.OpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0)
    resp = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}],
                                          max_tokens=5, temperature=0, seed=1)
    assert resp.choices[0].finish_reason in ("stop", "length")
    assert resp.usage.completion_tokens <= 5
    assert [m.id for m in client.models.list()] == ["tiny"]
    client.close()


def test_cli_entry_point(tiny_model_dir):
    proc = subprocess.Popen([sys.executable, "-m", "mimo.generate.server", "--model", str(tiny_model_dir),
                             "--port", "0", "--batch-size", "4", "--device", "cpu"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        assert "serving" in line and "http://127.0.0.1:" in line, line
        port = int(line.rsplit(":", 1)[1].split("/")[0])
        deadline = time.time() + 20
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/health")
                assert conn.getresponse().status == 200
                break
            except ConnectionError:
                assert time.time() < deadline
                time.sleep(0.1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
