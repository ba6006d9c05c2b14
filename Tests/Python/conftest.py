"""The live service under test: scripts/test.sh starts nginx and workers and says where (AGENTFCGI_URL, AGENTFCGI_CA)."""
import os

import pytest
from langgraph_sdk import get_client, get_sync_client


@pytest.fixture(scope="session")
def base_url() -> str:
    url = os.environ.get("AGENTFCGI_URL")
    if not url:
        pytest.fail("AGENTFCGI_URL is not set: run these tests through scripts/test.sh")
    # httpx (under langgraph_sdk) trusts the test CA through SSL_CERT_FILE.
    os.environ["SSL_CERT_FILE"] = os.environ["AGENTFCGI_CA"]
    return url


@pytest.fixture
def client(base_url):
    return get_sync_client(url=base_url, timeout=60)


@pytest.fixture
def async_client(base_url):
    return get_client(url=base_url, timeout=60)
