import openai
import pytest
from standin import StandIn


@pytest.fixture(scope="session")
def api_url():
    """The OpenAI-compatible stand-in: the suite never leaves the machine."""
    with StandIn() as server:
        yield server.url


@pytest.fixture(scope="module")
def client(api_url):
    """A client warmed with one call, as apps often do at start-up: the call is charged to
    this fixture, not to the first test that uses it."""
    client = openai.OpenAI(base_url=api_url, api_key="not-a-real-key", max_retries=0)
    client.chat.completions.create(model="support-bot-ft", messages=[{"role": "user", "content": "ping"}], max_tokens=1)
    return client
