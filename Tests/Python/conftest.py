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


@pytest.fixture(scope="session")
def api_key() -> str:
    """The admin key scripts/run.sh made for the service."""
    return os.environ["AGENTFCGI_API_KEY"]


@pytest.fixture
def client(base_url, api_key):
    return get_sync_client(url=base_url, api_key=api_key, timeout=60)


@pytest.fixture
def async_client(base_url, api_key):
    return get_client(url=base_url, api_key=api_key, timeout=60)
