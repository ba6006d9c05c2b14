"""scripts/run.sh started as root (the quickstart, and these tests) runs its workers as an unprivileged user, as the
systemd units do (#24 item 9): every worker process has non-zero user and group ids and no capabilities, that user
cannot read the TLS private key, the API key or the webhook secret, the database is that user's, and nginx's
workers (www-data) still reach the FastCGI sockets, which nobody else may."""
import grp
import json
import os
import pathlib
import pwd
import ssl
import subprocess
import urllib.request

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="scripts/run.sh drops privileges only when run as root")


def state_dir() -> pathlib.Path:
    return pathlib.Path(os.environ["AGENTFCGI_WORKER_LOGS"]).resolve().parent


def status(pid):
    """The fields of /proc/PID/status, split on whitespace."""
    fields = {}
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.split()
    return fields


def cmdline(pid):
    try:
        return pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:  # gone meanwhile
        return []


def worker_pids():
    """The service's workers: the pids in its pid files, checked against every `agentfcgi serve` on this machine
    that listens under the test's state folder (both must name the same processes)."""
    state = state_dir()
    recorded = {int(p.read_text()) for p in (state / "run").glob("worker-*.pid")}
    listening = set()
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        args = [a.decode(errors="replace") for a in cmdline(entry.name)]
        if "serve" in args and any(a.startswith(f"unix:{state}/") for a in args):
            listening.add(int(entry.name))
    assert recorded, f"no worker pid files in {state / 'run'}"
    assert recorded == listening, (recorded, listening)
    return sorted(recorded)


def as_user(uid, gid, *command):
    return subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--init-groups", *command],
                          capture_output=True, text=True, timeout=30)


def test_every_worker_runs_unprivileged():
    pids = worker_pids()
    users = set()
    for pid in pids:
        fields = status(pid)
        uids, gids = [int(v) for v in fields["Uid"]], [int(v) for v in fields["Gid"]]
        # real, effective, saved and filesystem ids: none is root's, so the worker cannot become root again.
        assert all(uids) and all(gids), (pid, fields["Uid"], fields["Gid"])
        assert int(fields["CapEff"][0], 16) == 0 and int(fields["CapPrm"][0], 16) == 0, (pid, fields["CapEff"])
        assert fields["NoNewPrivs"] == ["1"], (pid, fields["NoNewPrivs"])
        www_data = str(grp.getgrnam("www-data").gr_gid)
        assert www_data not in fields["Groups"], f"worker {pid} is in www-data's group: {fields['Groups']}"
        users.add((uids[0], gids[0]))
    assert len(users) == 1, users
    assert pwd.getpwuid(next(iter(users))[0]).pw_name == "agentfcgi"


def test_the_worker_user_cannot_read_the_secrets_but_owns_the_database(base_url):
    state = state_dir()
    uid, gid = (int(status(worker_pids()[0])[field][0]) for field in ("Uid", "Gid"))
    # The service answers through nginx meanwhile.
    context = ssl.create_default_context(cafile=os.environ["AGENTFCGI_CA"])
    with urllib.request.urlopen(base_url + "/ok", context=context, timeout=10) as answer:
        assert answer.status == 200 and json.loads(answer.read()) == {"ok": True}
    # nginx's master reads the TLS key as root before it drops to www-data; the workers never need it.
    # (The webhook secret is a file only when run.sh made it; scripts/pytest-live.sh passes one in.)
    secrets = [state / "certs" / "server.key", state / "certs" / "ca.key", state / "api-key"]
    assert all(p.exists() for p in secrets), secrets
    for secret in secrets + [p for p in [state / "webhook-secret"] if p.exists()]:
        denied = as_user(uid, gid, "cat", str(secret))
        # (The message names the file and the error only: a failure must not print the secret.)
        assert denied.returncode != 0 and "Permission denied" in denied.stderr, (secret, denied.returncode, denied.stderr)
    # The database and SQLite's -wal and -shm files are the worker user's (also after `keys create` run as root by
    # run.sh and by other tests), so every worker can write them; nobody else may read them.
    data = state / "data"
    files = [data, *data.iterdir()]
    assert any(p.name.endswith("-wal") for p in files), files
    for path in files:
        info = path.stat()
        assert (info.st_uid, info.st_gid) == (uid, gid), (path, info.st_uid, info.st_gid)
    assert data.stat().st_mode & 0o007 == 0, oct(data.stat().st_mode)
    writable = as_user(uid, gid, "sh", "-c", 'for f in "$@"; do [ -w "$f" ] || { echo "$f"; exit 1; }; done', "-",
                       *[str(p) for p in files])
    assert writable.returncode == 0, writable


def test_only_nginx_and_the_workers_reach_the_sockets():
    state = state_dir()
    sockets = sorted(p for p in state.rglob("worker-*.sock"))
    assert len(sockets) == len(worker_pids()), sockets
    connect = ("/usr/bin/python3", "-c", "import socket, sys\nfor path in sys.argv[1:]:\n"
               "    s = socket.socket(socket.AF_UNIX)\n    s.connect(path)\n    s.close()", *map(str, sockets))
    www = pwd.getpwnam("www-data")
    reached = as_user(www.pw_uid, www.pw_gid, *connect)
    assert reached.returncode == 0, reached
    nobody = pwd.getpwnam("nobody")
    refused = as_user(nobody.pw_uid, nobody.pw_gid, *connect)
    assert refused.returncode != 0 and "PermissionError" in refused.stderr, refused
