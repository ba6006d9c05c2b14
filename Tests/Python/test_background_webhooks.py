"""Background runs from the official LangGraph client, and webhook signatures checked by the official openai client."""
import http.server
import json
import os
import threading
import time

import openai
import pytest


class Receiver:
    """Records webhook requests; answers 204."""

    def __init__(self):
        self.requests = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append((dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count=1, timeout=20):
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.requests


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()


def test_background_run_is_polled_and_joined(client):
    thread = client.threads.create()
    run = client.runs.create(thread["thread_id"], "echo", input={"messages": [{"role": "user", "content": "later"}]})
    assert run["status"] in ("pending", "running", "success")
    joined = client.runs.join(thread["thread_id"], run["run_id"])
    assert joined["messages"][-1]["content"] == "You said: later"
    assert client.runs.get(thread["thread_id"], run["run_id"])["status"] == "success"


def test_webhook_signature_verifies_with_openai_unwrap(client, receiver):
    secret = os.environ["AGENTFCGI_WEBHOOK_SECRET"]
    thread = client.threads.create()
    run = client.runs.create(thread["thread_id"], "echo", input={"messages": [{"role": "user", "content": "hook"}]},
                             webhook=receiver.url)
    requests = receiver.wait()
    assert requests, "no webhook arrived"
    headers, body = requests[0]
    event = openai.OpenAI(api_key="unused", webhook_secret=secret).webhooks.unwrap(body, headers)
    payload = json.loads(body)
    assert payload["type"] == "run.completed" and event.type == "run.completed"
    assert payload["data"]["run_id"] == run["run_id"]
    assert payload["data"]["status"] == "success"
    # A wrong secret or a changed body fails verification.
    with pytest.raises(openai.InvalidWebhookSignatureError):
        openai.OpenAI(api_key="unused").webhooks.unwrap(body, headers, secret="whsec_" + "A" * 43 + "=")
    with pytest.raises(openai.InvalidWebhookSignatureError):
        openai.OpenAI(api_key="unused").webhooks.unwrap(body.replace(b"success", b"failure"), headers, secret=secret)
