"""Crons through nginx and several workers with langgraph-sdk's own crons client: create (with and without a thread),
search with its filters, sort and select, count, update, delete; what it refuses; scopes and tenants. Each test has a
tenant of its own. Firings run on a fast schedule clock in the Swift tests (CronTests in-process, LiveCronTests across
worker processes and a kill -9): these run on the wall clock, so nothing here waits for one."""
import datetime
import uuid
from zoneinfo import ZoneInfo

import pytest
from keys import create_key
from langgraph_sdk import get_sync_client
from langgraph_sdk.errors import NotFoundError, PermissionDeniedError, UnprocessableEntityError

SCOPES = "agents:read,threads:read,threads:write,runs:read,runs:write,crons:write"
DIGEST = {"messages": [{"role": "user", "content": "daily digest"}]}


def make_key(tenant, scopes=SCOPES):
    return create_key(tenant, scopes, name="crons-test")


@pytest.fixture
def client(base_url):
    return get_sync_client(url=base_url, api_key=make_key(f"cron-{uuid.uuid4().hex[:10]}"), timeout=60)


def parse(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_create_search_update_and_delete(client):
    assert client.http.get("/info")["flags"]["crons"] is True
    end = datetime.datetime(2099, 1, 1, tzinfo=datetime.timezone.utc)
    made = client.crons.create("echo", schedule="0 9 * * 1-5", input=DIGEST, metadata={"team": "ops"},
                               timezone=ZoneInfo("Europe/Berlin"), end_time=end, on_run_completed="keep")
    cron_id = made["cron_id"]
    assert uuid.UUID(cron_id) and made["assistant_id"] == "echo" and made["thread_id"] is None
    assert made["schedule"] == "0 9 * * 1-5" and made["timezone"] == "Europe/Berlin" and made["enabled"] is True
    assert made["on_run_completed"] == "keep" and parse(made["end_time"]) == end and made["metadata"] == {"team": "ops"}
    assert made["payload"]["input"] == DIGEST
    # The next firing is 09:00 in Berlin on a weekday, within the next four days.
    nxt = parse(made["next_run_date"]).astimezone(ZoneInfo("Europe/Berlin"))
    now = datetime.datetime.now(datetime.timezone.utc)
    assert (nxt.hour, nxt.minute) == (9, 0) and nxt.weekday() < 5 and now < nxt < now + datetime.timedelta(days=4)

    thread = client.threads.create()
    on_thread = client.crons.create_for_thread(thread["thread_id"], "echo", schedule="*/5 * * * *", input=DIGEST, enabled=False)
    assert on_thread["thread_id"] == thread["thread_id"] and on_thread["enabled"] is False and on_thread["next_run_date"] is None

    assert {c["cron_id"] for c in client.crons.search()} == {cron_id, on_thread["cron_id"]}
    assert [c["cron_id"] for c in client.crons.search(thread_id=thread["thread_id"])] == [on_thread["cron_id"]]
    assert [c["cron_id"] for c in client.crons.search(enabled=True)] == [cron_id]
    assert [c["cron_id"] for c in client.crons.search(assistant_id="echo", metadata={"team": "ops"})] == [cron_id]
    ordered = client.crons.search(sort_by="created_at", sort_order="asc", select=["cron_id", "schedule"])
    assert ordered == [{"cron_id": cron_id, "schedule": "0 9 * * 1-5"}, {"cron_id": on_thread["cron_id"], "schedule": "*/5 * * * *"}]
    assert client.crons.search(limit=1, offset=1, sort_by="created_at", sort_order="asc")[0]["cron_id"] == on_thread["cron_id"]
    assert client.crons.count() == 2 and client.crons.count(thread_id=thread["thread_id"]) == 1

    # Update: a new schedule goes on from now; the end cleared with None; run fields replace the stored request's.
    updated = client.crons.update(cron_id, schedule="15 6 * * *", timezone="UTC", end_time=None,
                                  input={"messages": [{"role": "user", "content": "weekly"}]})
    assert updated["schedule"] == "15 6 * * *" and updated["timezone"] == "UTC" and updated["end_time"] is None
    assert updated["payload"]["input"]["messages"][0]["content"] == "weekly"
    assert parse(updated["next_run_date"]).strftime("%H:%M") == "06:15"
    enabled = client.crons.update(on_thread["cron_id"], enabled=True)
    assert enabled["enabled"] is True and parse(enabled["next_run_date"]).minute % 5 == 0

    client.crons.delete(cron_id)
    with pytest.raises(NotFoundError):
        client.crons.delete(cron_id)
    assert [c["cron_id"] for c in client.crons.search()] == [on_thread["cron_id"]]


def test_bad_crons_are_refused_with_the_field(client):
    for kwargs, field in [({"schedule": "61 * * * *"}, "schedule"), ({"schedule": "* * * * * *"}, "schedule"),
                          ({"schedule": "0 9 * * *", "timezone": "Mars/Olympus"}, "timezone"),
                          ({"schedule": "0 9 * * *", "on_run_completed": "archive"}, "on_run_completed")]:
        with pytest.raises(UnprocessableEntityError) as refused:
            client.crons.create("echo", input=DIGEST, **kwargs)
        assert refused.value.response.json()["field"] == field, kwargs
    with pytest.raises(NotFoundError):
        client.crons.create("no-such-agent", schedule="0 9 * * *", input=DIGEST)
    with pytest.raises(NotFoundError):
        client.crons.create_for_thread(str(uuid.uuid4()), "echo", schedule="0 9 * * *", input=DIGEST)
    with pytest.raises(UnprocessableEntityError):
        client.crons.search(sort_by="schedule")
    assert client.crons.count() == 0


def test_crons_need_their_scope_and_stay_in_their_tenant(client, base_url):
    mine = client.crons.create("echo", schedule="0 9 * * *", input=DIGEST)
    stranger = get_sync_client(url=base_url, api_key=make_key(f"cron-{uuid.uuid4().hex[:10]}"), timeout=60)
    assert stranger.crons.search() == [] and stranger.crons.count() == 0
    with pytest.raises(NotFoundError):
        stranger.crons.update(mine["cron_id"], enabled=False)
    with pytest.raises(NotFoundError):
        stranger.crons.delete(mine["cron_id"])
    # Path variants reach no other tenant's crons either.
    for path in ("/runs/crons/search/", "/runs/crons/search//", "/RUNS/crons/search"):
        answer = stranger.http.client.post(path, json={})
        assert answer.status_code in (404, 405) or answer.json() == [], (path, answer.status_code)
    for path in (f"/runs/crons/{mine['cron_id']}/", f"/runs/crons//{mine['cron_id']}"):
        assert stranger.http.client.delete(path).status_code in (404, 405), path
    assert client.crons.count() == 1
    runs_only = get_sync_client(url=base_url, api_key=make_key(f"cron-{uuid.uuid4().hex[:10]}", scopes="runs:read,runs:write"), timeout=60)
    with pytest.raises(PermissionDeniedError):
        runs_only.crons.create("echo", schedule="0 9 * * *", input=DIGEST)
    with pytest.raises(PermissionDeniedError):
        runs_only.crons.search()
    assert client.crons.search()[0]["enabled"] is True
