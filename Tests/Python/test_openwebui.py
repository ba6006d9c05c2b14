"""The requests Open WebUI sends (Tests/Fixtures/openwebui_chat_request.json, built from its source at the commit the
fixture names), replayed through nginx: streamed answers, the chat kept on a thread once, a regenerated first turn,
Open WebUI's own title request on the same chat id, and its user headers never written to a log."""
import base64
import json
import os
import pathlib
import ssl
import uuid

import httpx
import pytest

FIXTURE = json.loads((pathlib.Path(__file__).resolve().parents[1] / "Fixtures" / "openwebui_chat_request.json").read_text())


@pytest.fixture
def http():
    return httpx.Client(verify=ssl.create_default_context(cafile=os.environ["AGENTFCGI_CA"]), timeout=60)


def send(http, base_url, api_key, chat_id, body, headers=None):
    headers = {k: v.replace("{API_KEY}", api_key).replace("{CHAT_ID}", chat_id) for k, v in (headers or FIXTURE["headers"]).items()}
    payload = json.dumps(json.loads(json.dumps(body).replace("{MODEL}", "echo")))
    return http.post(base_url + "/v1/chat/completions", content=payload, headers=headers)


def streamed_text(response):
    assert response.status_code == 200, response.text
    text = ""
    for line in response.text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            chunk = json.loads(line[6:])
            for choice in chunk["choices"]:
                text += choice["delta"].get("content") or ""
    assert response.text.rstrip().endswith("data: [DONE]")
    return text


def test_open_webui_chat_regenerate_and_title(http, base_url, api_key, client):
    chat_id = "owui-" + uuid.uuid4().hex
    assert streamed_text(send(http, base_url, api_key, chat_id, FIXTURE["first_turn"])) == "You said: Hello there"
    # Its title request: the chat's id, one templated message, not streamed. It must not touch the chat's thread.
    title = {"model": "{MODEL}", "stream": False, "max_tokens": 50,
             "messages": [{"role": "user", "content": "### Task:\nGenerate a concise title for this chat.\n### Chat History:\nUSER: Hello there"}]}
    answer = send(http, base_url, api_key, chat_id, title)
    assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"].startswith("You said: ### Task:")
    assert streamed_text(send(http, base_url, api_key, chat_id, FIXTURE["second_turn"])) == "You said: And again"
    contents = lambda: [m["content"] for m in client.threads.get_state(chat_id)["values"]["messages"]]
    assert contents() == ["Hello there", "You said: Hello there", "And again", "You said: And again"]
    # Regenerating the first answer: the request stops at the first message; the thread follows it, not doubled.
    assert streamed_text(send(http, base_url, api_key, chat_id, FIXTURE["regenerate_first"])) == "You said: Hello there"
    assert contents() == ["Hello there", "You said: Hello there"]
    # With include_usage forced (a model with the usage capability): the usage chunk comes last.
    forced = dict(FIXTURE["second_turn"], stream_options={"include_usage": True})
    response = send(http, base_url, api_key, chat_id, forced)
    chunks = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: {")]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0

    state = pathlib.Path(os.environ["AGENTFCGI_DATABASE"]).parents[1]
    logs = "".join(p.read_text(errors="replace") for p in list((state / "logs").glob("*.log")) + list((state / "nginx" / "logs").glob("*.log")))
    for secret in ("ada@example.com", "Ada Lovelace", FIXTURE["headers"]["X-OpenWebUI-User-Id"]):
        assert secret not in logs


def test_an_image_larger_than_a_mebibyte_passes_nginx(http, base_url, api_key):
    png = "data:image/png;base64," + base64.b64encode(os.urandom(1_500_000)).decode()
    body = {"model": "echo", "messages": [{"role": "user", "content": [{"type": "text", "text": "look"},
                                                                       {"type": "image_url", "image_url": {"url": png}}]}]}
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    answer = http.post(base_url + "/v1/chat/completions", json=body, headers=headers)
    assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"] == \
        "You said: look (1 image ignored: the built-in model does not look at images)"
    too_big = http.post(base_url + "/v1/chat/completions", content=b"{" + b" " * (21 << 20) + b"}", headers=headers)
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "payload_too_large"
    # Elsewhere the limit stays 1 MiB, in problem+json.
    # Routes that take no messages keep 1 MiB (the run routes take 20 MiB too, for images and files).
    elsewhere = http.post(base_url + "/threads", content=b"{" + b" " * (2 << 20) + b"}", headers=headers)
    assert elsewhere.status_code == 413 and elsewhere.headers["content-type"].startswith("application/problem+json")
