"""schemathesis drives the live service from its own OpenAPI spec, with a test key: no 5xx, nothing that the spec
does not describe (statuses, content types, headers, bodies), auth enforced, and the spec states the server's rules:
every request it calls valid is accepted, and every request it calls invalid is refused."""
import os
import pathlib
import subprocess
import sys

CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance", "response_headers_conformance",
    "response_schema_conformance", "missing_required_header", "unsupported_method", "allow_header_conformance",
    "ignored_auth", "use_after_free", "ensure_resource_availability", "positive_data_acceptance", "negative_data_rejection",
])


def test_schemathesis_finds_nothing(base_url):
    # A tenant of its own: what it creates (threads, assistants) stays out of the other suites' listings.
    api_key = subprocess.run([os.environ["AGENTFCGI_BIN"], "keys", "create", "--database", os.environ["AGENTFCGI_DATABASE"],
                              "--name", "schemathesis", "--tenant", "schemathesis", "--scopes", "admin", "--quiet"],
                             check=True, capture_output=True, text=True).stdout.strip()
    schemathesis = pathlib.Path(sys.executable).with_name("schemathesis")
    here = pathlib.Path(__file__).resolve().parent
    report = here.parents[1] / ".state" / "schemathesis.txt"
    # schemathesis_hooks.py: values the schema cannot describe (time zones, fresh idempotency keys);
    # schemathesis.toml: the narrow exceptions to the checks, each with its reason.
    env = dict(os.environ, SCHEMATHESIS_HOOKS="schemathesis_hooks",
               PYTHONPATH=os.pathsep.join(filter(None, [str(here), os.environ.get("PYTHONPATH")])))
    result = subprocess.run(
        [str(schemathesis), "--config-file", str(here / "schemathesis.toml"),
         "run", base_url + "/openapi.json", "-H", f"X-Api-Key: {api_key}",
         "--tls-verify", os.environ["AGENTFCGI_CA"], "--checks", CHECKS, "--max-examples", "15",
         "--seed", os.environ.get("SCHEMATHESIS_SEED", "7"), "--generation-database", "none", "--request-timeout", "30", "--no-color",
         # The run bodies' rules between fields (an agent, input or messages, content parts by type) filter many
         # drawn examples; that is the generator's cost, not a finding.
         "--suppress-health-check", "filter_too_much",
         # The thread streams follow a thread until the client leaves (test_thread_stream.py checks them); /mcp
         # speaks JSON-RPC, its errors included, which test_mcp.py checks with MCP's own clients.
         "--exclude-operation-id", "thread_stream_events", "--exclude-operation-id", "thread_join_stream",
         "--exclude-operation-id", "mcp"],
        capture_output=True, text=True, timeout=900, env=env)
    report.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-6000:]
    assert "86/86" in result.stdout or "Tested: 86" in result.stdout, "every operation was exercised"
