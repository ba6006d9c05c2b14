"""LangGraph's store (long-term memory) through nginx and several workers, with langgraph-sdk's own client: every
store method, tenants that never see each other's items, the scopes, TTLs (in minutes, refreshed by reads), the text
search's ranking, and an agent that remembers a fact in one thread and recalls it in another. Each test has a tenant
of its own."""
import os
import sqlite3
import time
import uuid

import anyio
import pytest
from keys import create_key
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import NotFoundError, PermissionDeniedError, UnprocessableEntityError

ALL = "store:read,store:write,threads:read,threads:write,runs:read,runs:write,agents:read"


def make_key(tenant, scopes=ALL):
    return create_key(tenant, scopes, name="store-test")


@pytest.fixture
def tenant(base_url):
    name = f"store-{uuid.uuid4().hex[:10]}"
    return name, get_sync_client(url=base_url, api_key=make_key(name), timeout=60)


def keys(response):
    return [item["key"] for item in response["items"]]


def test_every_store_method(tenant):
    _, client = tenant
    assert client.store.put_item(["users", "u1"], "prefs", {"colour": "teal", "n": 3}, index=False, ttl=5) is None
    client.store.put_item(["users", "u1", "notes"], "n1", {"text": "likes tea", "n": 7}, index=["text"])
    client.store.put_item(["users", "u2"], "prefs", {"colour": "red", "n": 1})

    item = client.store.get_item(["users", "u1"], "prefs")
    assert item["namespace"] == ["users", "u1"] and item["key"] == "prefs" and item["value"] == {"colour": "teal", "n": 3}
    assert item["created_at"].endswith("Z") and item["updated_at"] == item["created_at"] and "score" not in item
    assert client.store.get_item(["users", "u1"], "prefs", refresh_ttl=False)["value"]["colour"] == "teal"

    # A put replaces the value; created_at stays.
    time.sleep(0.01)
    client.store.put_item(["users", "u1"], "prefs", {"colour": "green", "n": 4})
    replaced = client.store.get_item(["users", "u1"], "prefs")
    assert replaced["value"] == {"colour": "green", "n": 4} and replaced["created_at"] == item["created_at"]
    assert replaced["updated_at"] > item["updated_at"]

    assert sorted(keys(client.store.search_items(["users"]))) == ["n1", "prefs", "prefs"]
    assert keys(client.store.search_items(["users", "u1"])) == ["prefs", "n1"]  # most recently updated first
    assert keys(client.store.search_items(["users"], filter={"colour": "red"})) == ["prefs"]
    assert keys(client.store.search_items(["users"], filter={"n": {"$gte": 4}})) == ["prefs", "n1"]
    assert keys(client.store.search_items(["users"], filter={"n": {"$gt": 1, "$lt": 7}})) == ["prefs"]
    assert keys(client.store.search_items(["users"], filter={"colour": {"$ne": "red"}}, limit=1, offset=1)) == ["n1"]
    found = client.store.search_items(["users"], query="tea")
    assert keys(found) == ["n1"] and found["items"][0]["score"] > 0
    assert client.store.search_items(["nobody"]) == {"items": []}

    assert client.store.list_namespaces() == {"namespaces": [["users", "u1"], ["users", "u1", "notes"], ["users", "u2"]]}
    assert client.store.list_namespaces(prefix=["users", "u1"]) == {"namespaces": [["users", "u1"], ["users", "u1", "notes"]]}
    assert client.store.list_namespaces(suffix=["notes"]) == {"namespaces": [["users", "u1", "notes"]]}
    assert client.store.list_namespaces(max_depth=1) == {"namespaces": [["users"]]}
    assert client.store.list_namespaces(limit=1, offset=2) == {"namespaces": [["users", "u2"]]}

    assert client.store.delete_item(["users", "u1"], "prefs") is None
    with pytest.raises(NotFoundError):
        client.store.get_item(["users", "u1"], "prefs")
    client.store.delete_item(["users", "u1"], "prefs")  # deleting again is fine


def test_the_async_client_too(base_url):
    name = f"store-{uuid.uuid4().hex[:10]}"
    client = get_client(url=base_url, api_key=make_key(name), timeout=60)

    async def scenario():
        await client.store.put_item(["a"], "k", {"text": "async works"})
        assert (await client.store.get_item(["a"], "k"))["value"] == {"text": "async works"}
        assert keys(await client.store.search_items(["a"], query="works")) == ["k"]
        assert (await client.store.list_namespaces())["namespaces"] == [["a"]]
        await client.store.delete_item(["a"], "k")
        assert (await client.store.search_items(["a"]))["items"] == []

    anyio.run(scenario)


def test_tenants_never_see_each_other(base_url, tenant):
    _, mine = tenant
    theirs = get_sync_client(url=base_url, api_key=make_key(f"store-{uuid.uuid4().hex[:10]}"), timeout=60)
    mine.store.put_item(["shared", "name"], "k", {"owner": "me"})
    with pytest.raises(NotFoundError):
        theirs.store.get_item(["shared", "name"], "k")
    assert theirs.store.search_items(["shared"]) == {"items": []}
    assert theirs.store.search_items([], query="me") == {"items": []}
    assert theirs.store.list_namespaces() == {"namespaces": []}
    theirs.store.delete_item(["shared", "name"], "k")  # removes nothing of mine
    theirs.store.put_item(["shared", "name"], "k", {"owner": "them"})
    assert mine.store.get_item(["shared", "name"], "k")["value"] == {"owner": "me"}
    assert theirs.store.get_item(["shared", "name"], "k")["value"] == {"owner": "them"}


def test_scopes(base_url):
    name = f"store-{uuid.uuid4().hex[:10]}"
    writer = get_sync_client(url=base_url, api_key=make_key(name), timeout=60)
    reader = get_sync_client(url=base_url, api_key=make_key(name, "store:read"), timeout=60)
    neither = get_sync_client(url=base_url, api_key=make_key(name, "threads:read,runs:write"), timeout=60)
    writer.store.put_item(["s"], "k", {"v": 1})
    assert reader.store.get_item(["s"], "k")["value"] == {"v": 1}
    assert keys(reader.store.search_items(["s"])) == ["k"]
    with pytest.raises(PermissionDeniedError):
        reader.store.put_item(["s"], "k", {"v": 2})
    with pytest.raises(PermissionDeniedError):
        reader.store.delete_item(["s"], "k")
    with pytest.raises(PermissionDeniedError):
        neither.store.get_item(["s"], "k")
    with pytest.raises(PermissionDeniedError):
        neither.store.list_namespaces()


def test_bad_input_is_a_problem_naming_the_field(tenant):
    _, client = tenant
    cases = [
        (lambda: client.store.put_item([], "k", {}), "namespace"),
        (lambda: client.store.put_item([f"l{i}" for i in range(11)], "k", {}), "namespace"),
        (lambda: client.store.put_item(["a", ""], "k", {}), "namespace[1]"),
        (lambda: client.store.put_item(["a"], "", {}), "key"),
        (lambda: client.store.put_item(["a"], "k", [1, 2]), "value"),
        (lambda: client.store.put_item(["a"], "k", {}, ttl=-1), "ttl"),
        (lambda: client.store.search_items(["a"], limit=0), "limit"),
        (lambda: client.store.search_items(["a"], filter={"n": {"$regex": "x"}}), "filter.n.$regex"),
        (lambda: client.store.list_namespaces(max_depth=0), "max_depth"),
        (lambda: client.store.delete_item(["a.b"], "k"), "namespace[0]"),
    ]
    for call, field in cases:
        with pytest.raises(UnprocessableEntityError) as raised:
            call()
        problem = raised.value.response.json()
        assert problem["field"] == field and problem["code"] == "validation_error", problem
        assert raised.value.response.headers["content-type"] == "application/problem+json"
    # The SDK itself refuses dots in labels before sending.
    with pytest.raises(ValueError):
        client.store.put_item(["a.b"], "k", {})


def test_ttl_is_in_minutes_and_reads_refresh_it(tenant):
    name, client = tenant
    client.store.put_item(["ttl"], "k", {"v": 1}, ttl=2)
    client.store.put_item(["ttl"], "forever", {"v": 2})

    def expiry(key):
        # The workers' own database: the TTL as stored (the wire does not show it).
        with sqlite3.connect(f"file:{os.environ['AGENTFCGI_DATABASE']}?mode=ro", uri=True) as db:
            return db.execute("SELECT ttl_ms, expires_at FROM store_items WHERE tenant = ? AND namespace = 'ttl' AND key = ?",
                              (name, key)).fetchone()

    ttl_ms, first = expiry("k")
    assert ttl_ms == 120_000 and expiry("forever") == (None, None)
    assert first / 1000 - time.time() == pytest.approx(120, abs=10)
    time.sleep(0.05)
    client.store.get_item(["ttl"], "k", refresh_ttl=False)
    assert expiry("k")[1] == first
    client.store.get_item(["ttl"], "k")
    refreshed = expiry("k")[1]
    assert refreshed > first
    time.sleep(0.05)
    client.store.search_items(["ttl"], refresh_ttl=False)
    assert expiry("k")[1] == refreshed
    client.store.search_items(["ttl"])
    assert expiry("k")[1] > refreshed


def test_text_search_ranks_best_first(tenant):
    _, client = tenant
    client.store.put_item(["docs"], "one", {"title": "A cat", "body": "about gardens"})
    client.store.put_item(["docs"], "three", {"title": "Cats", "body": "cat cat cat, a cat story"})
    client.store.put_item(["docs"], "none", {"title": "Dogs only"})
    client.store.put_item(["docs", "deep"], "two", {"title": "cat and cat", "tags": ["pets"]})
    found = client.store.search_items(["docs"], query="cat")["items"]
    assert [item["key"] for item in found][0] == "three"
    assert {item["key"] for item in found} == {"one", "two", "three"}
    scores = [item["score"] for item in found]
    assert scores == sorted(scores, reverse=True) and all(score > 0 for score in scores)
    assert [item["key"] for item in client.store.search_items(["docs"], query="pets")["items"]] == ["two"]
    assert client.store.search_items(["docs"], query="zebra")["items"] == []


def test_an_agent_remembers_in_one_thread_and_recalls_in_another(tenant, base_url):
    _, client = tenant

    def say(text):
        thread = client.threads.create()
        values = client.runs.wait(thread["thread_id"], "memory", input={"messages": [{"role": "user", "content": text}]})
        return values["messages"][-1]["content"]

    assert say('remember {"fact": "My favourite colour is teal."}') == "remember returned remembered."
    assert say('recall {"query": "which colour do I like best? my favourite"}') == "recall returned My favourite colour is teal.."
    # The fact is a store item of the key's namespace: readable through the store API.
    namespaces = client.store.list_namespaces(prefix=["memories"])["namespaces"]
    assert len(namespaces) == 1 and namespaces[0][:2] == ["memories", "key"]
    assert client.store.search_items(namespaces[0], query="teal")["items"][0]["value"] == {"fact": "My favourite colour is teal."}
    # Another key (even of the same tenant) has memories of its own.
    other = get_sync_client(url=base_url, api_key=make_key(tenant[0]), timeout=60)
    thread = other.threads.create()
    values = other.runs.wait(thread["thread_id"], "memory", input={"messages": [{"role": "user", "content": 'recall {"query": "colour"}'}]})
    assert values["messages"][-1]["content"] == "recall returned nothing remembered about that."


def test_memory_per_thread_user_is_reached_by_any_key_of_the_tenant(tenant, base_url):
    """`memory-user` (scripts/pytest-live.sh) keys memory by the thread's metadata.user_id: within a tenant, whoever
    names the user on a thread reaches that user's memories, as the README warns; another tenant never does."""
    name, app = tenant
    other_key = get_sync_client(url=base_url, api_key=make_key(name), timeout=60)
    other_tenant = get_sync_client(url=base_url, api_key=make_key(f"store-{uuid.uuid4().hex[:10]}"), timeout=60)

    def say(client, text, user=None):
        thread = client.threads.create(metadata={"user_id": user} if user else None)
        values = client.runs.wait(thread["thread_id"], "memory-user", input={"messages": [{"role": "user", "content": text}]})
        return values["messages"][-1]["content"]

    assert say(app, 'remember {"fact": "Ann drinks green tea."}', user="ann@example.com") == "remember returned remembered."
    assert say(other_key, 'recall {"query": "tea"}', user="ann@example.com") == "recall returned Ann drinks green tea.."
    assert say(app, 'recall {"query": "tea"}', user="bob") == "recall returned nothing remembered about that."
    assert say(other_tenant, 'recall {"query": "tea"}', user="ann@example.com") == "recall returned nothing remembered about that."
    assert "user_id" in say(app, 'recall {"query": "tea"}')
    assert app.store.list_namespaces(prefix=["memories"])["namespaces"] == [["memories", "metadata", "user_id", "ann@example%2Ecom"]]
