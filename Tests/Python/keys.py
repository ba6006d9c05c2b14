"""API keys of a tenant of the test's own, made as an operator makes them (`agentfcgi keys create`) on the service's
database, so that each test sees only what it made."""
import os
import subprocess


def create_key(tenant, scopes, name="python-tests"):
    return subprocess.run([os.environ["AGENTFCGI_BIN"], "keys", "create", "--database", os.environ["AGENTFCGI_DATABASE"],
                           "--name", name, "--tenant", tenant, "--scopes", scopes, "--quiet"],
                          check=True, capture_output=True, text=True).stdout.strip()
