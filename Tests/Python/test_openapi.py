"""The spec that nginx serves is valid OpenAPI 3.1 and describes what the service answers."""
import json
import ssl
import urllib.request

from openapi_spec_validator import validate


def fetch(base_url, path, data=None, key=None):
    context = ssl.create_default_context()
    headers = {"Content-Type": "application/json"} if data else {}
    if key:
        headers["X-Api-Key"] = key
    request = urllib.request.Request(base_url + path, data=data, headers=headers)
    with urllib.request.urlopen(request, context=context) as response:
        return response.status, dict(response.headers), response.read()


def test_served_spec_is_valid_openapi_31(base_url, api_key):
    status, headers, body = fetch(base_url, "/openapi.json")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    spec = json.loads(body)
    validate(spec)
    assert spec["openapi"] == "3.1.0"
    assert {"/threads/{thread_id}/runs/stream", "/runs/{run_id}/cancel", "/agents/{agent_id}/tools/{tool}/invoke"} <= set(spec["paths"])
    # The configured agents are offered by id.
    _, _, agents = fetch(base_url, "/agents/search", data=b'{"limit": 100}', key=api_key)
    ids = [agent["agent_id"] for agent in json.loads(agents)]
    offered = spec["components"]["schemas"]["RunCreate"]["properties"]["assistant_id"]["enum"]
    assert [agent for agent in offered if agent is not None] == ids
    # Every operation documents its errors: problem+json, and OpenAI's error object under /v1.
    for path, methods in spec["paths"].items():
        kind = "OpenAIError" if path.startswith("/v1/") else "Problem"
        for method, operation in methods.items():
            assert operation["responses"]["500"] == {"$ref": f"#/components/responses/{kind}500"}, (method, path)
