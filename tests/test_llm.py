"""Hosted models: real SDKs (openai, anthropic, mistralai) against a stand-in server on
127.0.0.1, through pytester; each call charged to its account, with EcoLogits' figures."""

from __future__ import annotations

import json
import logging
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("ecologits")
pytest.importorskip("openai")
pytest.importorskip("anthropic")

from ecologits.tracers.utils import llm_impacts

logging.getLogger("ecologits").disabled = True

STANDIN = (Path(__file__).parent / "fakes" / "llm_server.py").read_text()
J_PER_KWH = 3.6e6
# Long enough that EcoLogits' generation time (TTFT + tokens / throughput) is shorter than
# the measured latency for these models at TOKENS tokens: the figures then do not depend
# on how long the call took, and equal llm_impacts' at any long latency.
SLOW = 0.8
TOKENS = 4
HAIKU = "claude-haiku-4-5-20251001"


def conftest(delay: float, tokens: int = TOKENS, model: str | None = None) -> str:
    return f"""
        import pytest
        from llm_server import LLMServer

        @pytest.fixture(scope="session")
        def server():
            with LLMServer(delay={delay}, tokens={tokens}, model={model!r}) as running:
                yield running

        @pytest.fixture
        def openai_client(server):
            import openai
            return openai.OpenAI(base_url=server.url + "/v1", api_key="test-key", max_retries=0)
    """


def suite(pytester: pytest.Pytester, tests: str, delay: float = 0.02, pyproject: str = "", **files: str) -> None:
    pytester.makepyfile(llm_server=STANDIN)
    pytester.makeconftest(textwrap.dedent(files.pop("conftest", conftest(delay))))
    pytester.makepyfile(test_calls=textwrap.dedent(tests), **{k: textwrap.dedent(v) for k, v in files.items()})
    pytester.makefile(".toml", pyproject="[tool.pytest_carbon]\n" + textwrap.dedent(pyproject))


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict]:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--carbon-json=carbon.json", *args)
    report = json.loads((pytester.path / "carbon.json").read_text())
    return result, report


def by_test(report: dict) -> dict[str, dict]:
    return {t["nodeid"].split("::")[-1]: t for t in report["tests"]}


def impacts(provider: str, model: str, tokens: int = TOKENS, latency: float = 100.0, zone: str | None = None):
    return llm_impacts(provider, model, tokens, latency, zone)


def bounds(value) -> tuple[float, float]:
    """An EcoLogits value (a range or one figure) as (min, max)."""
    return (value.min, value.max) if hasattr(value, "min") else (value, value)


def joules(value) -> tuple[float, float]:
    low, high = bounds(value)
    return low * J_PER_KWH, high * J_PER_KWH


def test_each_call_is_charged_to_its_account_with_ecologits_figures(pytester: pytest.Pytester) -> None:
    suite(
        pytester,
        """
        import threading

        import pytest

        def ask(client):
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])

        @pytest.fixture(scope="module")
        def warmed(server):
            import openai
            client = openai.OpenAI(base_url=server.url + "/v1", api_key="test-key")
            ask(client)
            return client

        @pytest.fixture
        def asked_in_setup(openai_client):
            ask(openai_client)

        def test_setup_and_call(asked_in_setup, openai_client):
            ask(openai_client)

        def test_uses_warmed_client(warmed):
            pass

        def test_thread(openai_client):
            worker = threading.Thread(target=ask, args=(openai_client,))
            worker.start()
            worker.join()

        def test_anthropic(server):
            import anthropic
            client = anthropic.Anthropic(base_url=server.url, api_key="test-key")
            client.messages.create(model="HAIKU", max_tokens=50, messages=[{"role": "user", "content": "hi"}])

        def test_mistral(server):
            from mistralai.client import Mistral
            Mistral(api_key="test-key", server_url=server.url).chat.complete(
                model="mistral-small-latest", messages=[{"role": "user", "content": "hi"}]
            )

        def test_no_calls():
            pass
        """.replace("HAIKU", HAIKU),
        conftest=conftest(SLOW),
    )
    result, report = run(pytester)
    assert result.ret == 0, result.stdout.str()
    tests = by_test(report)
    assert "llm" not in tests["test_no_calls"]
    assert "llm" not in tests["test_uses_warmed_client"]  # the module fixture made that call
    (warmed,) = [f for f in report["fixtures"] if f["name"] == "warmed"]
    assert warmed["llm"]["calls"] == 1
    mini_min, mini_max = joules(impacts("openai", "gpt-4o-mini").energy.value)
    expected = {
        "test_setup_and_call": ("gpt-4o-mini", 2, mini_min, mini_max),
        "test_thread": ("gpt-4o-mini", 1, mini_min, mini_max),
        "test_anthropic": (HAIKU, 1, *joules(impacts("anthropic", HAIKU).energy.value)),
        "test_mistral": ("mistral-small-latest", 1, *joules(impacts("mistralai", "mistral-small-latest").energy.value)),
    }
    for name, (model, calls, low, high) in expected.items():
        llm = tests[name]["llm"]
        assert llm["calls"] == calls, name
        assert llm["output_tokens"] == calls * TOKENS
        assert llm["energy_j_min"] == pytest.approx(calls * low, rel=1e-9), name
        assert llm["energy_j_max"] == pytest.approx(calls * high, rel=1e-9), name
        assert list(llm["models"]) == [model]
    usa = bounds(impacts("openai", "gpt-4o-mini").usage.gwp.value)
    assert tests["test_thread"]["llm"]["co2e_g_min"] == pytest.approx(usa[0] * 1000, rel=1e-9)
    session = report["session"]["llm"]
    assert session["calls"] == 1 + 2 + 1 + 1 + 1
    assert session["energy_j"] == pytest.approx(
        sum(t["llm"]["energy_j"] for t in tests.values() if "llm" in t) + warmed["llm"]["energy_j"]
    )
    assert session["models"]["gpt-4o-mini"]["calls"] == 4


def test_async_streaming_and_responses_api(pytester: pytest.Pytester) -> None:
    suite(
        pytester,
        """
        import asyncio

        import openai

        MESSAGES = [{"role": "user", "content": "hi"}]

        def test_async_chat(server):
            async def go():
                client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="test-key")
                await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            asyncio.run(go())

        def test_stream_with_usage(openai_client):
            stream = openai_client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
            with stream:
                chunks = [chunk for chunk in stream]
            assert chunks[-1].usage.completion_tokens == 7

        def test_stream_without_usage(openai_client):
            for _ in openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
                pass

        def test_async_stream(server):
            async def go():
                client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="test-key")
                stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
                async for _ in stream:
                    pass
            asyncio.run(go())

        def test_responses(openai_client):
            assert openai_client.responses.create(model="gpt-4o", input="hi").usage.output_tokens == 7
            for _ in openai_client.responses.create(model="gpt-4o", input="hi", stream=True):
                pass
            with openai_client.responses.stream(model="gpt-4o", input="hi") as stream:
                stream.get_final_response()

        def test_anthropic_stream(server):
            import anthropic
            async def go():
                client = anthropic.AsyncAnthropic(base_url=server.url, api_key="test-key")
                async with client.messages.stream(model="HAIKU", max_tokens=50, messages=MESSAGES) as stream:
                    await stream.get_final_message()
            asyncio.run(go())
            sync = anthropic.Anthropic(base_url=server.url, api_key="test-key")
            for _ in sync.messages.create(model="HAIKU", max_tokens=50, messages=MESSAGES, stream=True):
                pass

        def test_mistral_stream(server):
            from mistralai.client import Mistral
            for _ in Mistral(api_key="test-key", server_url=server.url).chat.stream(
                model="mistral-small-latest", messages=MESSAGES
            ):
                pass
        """.replace("HAIKU", HAIKU),
        conftest=conftest(0.02, tokens=7),
    )
    result, report = run(pytester)
    assert result.ret == 0, result.stdout.str()
    tests = by_test(report)
    expected_calls = {
        "test_async_chat": 1,
        "test_stream_with_usage": 1,
        "test_stream_without_usage": 1,  # tokens counted from the text chunks
        "test_async_stream": 1,
        "test_responses": 3,
        "test_anthropic_stream": 2,
        "test_mistral_stream": 1,
    }
    for name, calls in expected_calls.items():
        llm = tests[name]["llm"]
        assert (llm["calls"], llm["output_tokens"]) == (calls, 7 * calls), name
        assert llm["not_charged"] == 0, name
        # the latency was short: between EcoLogits' figure at the server's delay and at any latency
        (model, record), *_ = llm["models"].items()
        low = joules(impacts(record["provider"], model, 7, 0.02).energy.value)[0]
        high = joules(impacts(record["provider"], model, 7, 100).energy.value)[0]
        assert calls * low <= llm["energy_j_min"] <= calls * high, name


def test_endpoint_table_and_model_mapping(pytester: pytest.Pytester) -> None:
    suite(
        pytester,
        """
        def test_gateway(openai_client):
            openai_client.chat.completions.create(model="team-summariser", messages=[{"role": "user", "content": "hi"}])
        """,
        pyproject="""
            [tool.pytest_carbon.llm.endpoints]
            "http://127.0.0.1" = { provider = "mistral", zone = "FR" }

            [tool.pytest_carbon.llm.models]
            "team-summariser" = "mistral-small-latest"
        """,
        conftest=conftest(SLOW),
    )
    result, report = run(pytester)
    assert result.ret == 0, result.stdout.str()
    model = by_test(report)["test_gateway"]["llm"]["models"]["team-summariser"]
    assert (model["provider"], model["charged_as"], model["zone"]) == ("mistralai", "mistral-small-latest", "FRA")
    assert model["unmapped_hosts"] == []
    france = bounds(impacts("mistralai", "mistral-small-latest", zone="FRA").usage.gwp.value)
    sweden = bounds(impacts("mistralai", "mistral-small-latest").usage.gwp.value)
    assert france != sweden
    assert model["co2e_g_min"] == pytest.approx(france[0] * 1000, rel=1e-9)


def test_unknown_model_listed_once_not_charged(pytester: pytest.Pytester) -> None:
    suite(
        pytester,
        """
        import pytest

        @pytest.mark.parametrize("n", range(3))
        def test_fine_tuned(openai_client, n):
            openai_client.chat.completions.create(model="acme-ft-7", messages=[{"role": "user", "content": "hi"}])
        """,
    )
    result, report = run(pytester)
    assert result.ret == 0
    model = report["session"]["llm"]["models"]["acme-ft-7"]
    assert (model["calls"], model["not_charged"], model["co2e_g"], model["charged_as"]) == (3, 3, 0.0, None)
    notes = [n for n in report["session"]["notes"] if "acme-ft-7" in n]
    assert len(notes) == 1 and "3 calls" in notes[0] and "[tool.pytest_carbon.llm.models]" in notes[0]
    output = result.stdout.str()
    assert output.count("hosted model 'acme-ft-7' (openai, 3 calls) not charged") == 1
    # the stand-in's host is not a provider's: a note says so, naming no path or key
    assert "calls to http://127.0.0.1:" in output and "[tool.pytest_carbon.llm.endpoints]" in output
    assert "test-key" not in output


def test_replayed_cassette_and_mocks_are_charged_nothing(pytester: pytest.Pytester) -> None:
    pytest.importorskip("vcr")
    pytest.importorskip("respx")
    suite(
        pytester,
        """
        import httpx
        import httpx2
        import openai
        import respx
        import vcr

        MESSAGES = [{"role": "user", "content": "hi"}]
        ANSWER = {
            "id": "x", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 5, "total_tokens": 6},
        }

        def test_cassette(openai_client):
            with vcr.use_cassette("answers.yaml", record_mode="once", match_on=["method", "path"]):
                openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

        def test_respx():
            client = openai.OpenAI(base_url="https://api.openai.com/v1", api_key="test-key", http_client=httpx.Client())
            with respx.mock:
                respx.post("https://api.openai.com/v1/chat/completions").respond(json=ANSWER)
                client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

        def test_mock_transport():
            transport = httpx2.MockTransport(lambda request: httpx2.Response(200, json=ANSWER))
            client = openai.OpenAI(api_key="test-key", http_client=httpx2.Client(transport=transport))
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        """,
    )
    first, recorded = run(pytester)
    assert first.ret == 0, first.stdout.str()
    assert (pytester.path / "answers.yaml").exists()
    tests = by_test(recorded)
    assert tests["test_cassette"]["llm"]["calls"] == 1  # recording reached the model
    for name in ("test_respx", "test_mock_transport"):
        llm = tests[name]["llm"]
        assert (llm["calls"], llm["replayed"], llm["co2e_g"]) == (0, 1, 0.0), name
    second, replayed = run(pytester)
    assert second.ret == 0
    llm = by_test(replayed)["test_cassette"]["llm"]
    assert (llm["calls"], llm["replayed"], llm["energy_j"], llm["co2e_g"]) == (0, 1, 0.0, 0.0)
    assert replayed["session"]["llm"]["replayed"] == 3
    assert "3 replayed (charged nothing)" in second.stdout.str()


def test_budget_counts_hosted_calls_with_breakdown(energy_suite: pytest.Pytester) -> None:
    # The fake RAPL counter never moves: locally the test costs nothing; its call ~3 mgCO2e.
    tests = """
        import pytest

        @pytest.mark.carbon(max_mg=1)
        def test_over(openai_client):
            openai_client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    """
    suite(energy_suite, tests)
    result, report = run(energy_suite, "--carbon-meters=rapl")
    assert result.ret == 1, result.stdout.str()
    hosted = report["tests"][0]["llm"]["co2e_g"]
    assert hosted > 1e-3 and report["tests"][0]["budget"]["measured"] == pytest.approx(hosted)
    result.stdout.fnmatch_lines(
        [
            "*counted with hosted models:*(local 0 gCO2e + hosted*)",
            "*hosted models (setup + call): 1 call, 4 output tokens,*J (*J-*J) ->*",
            "*gpt-4o (openai): 1 call, 4 tokens*",
        ]
    )
    (energy_suite.path / "pyproject.toml").write_text("[tool.pytest_carbon.llm]\ncount_in_budgets = false\n")
    result, report = run(energy_suite, "--carbon-meters=rapl")
    assert result.ret == 0, result.stdout.str()
    assert report["session"]["llm"]["count_in_budgets"] is False
    assert report["tests"][0]["budget"]["measured"] == 0


def test_off_observes_nothing_and_no_sdk_is_imported_at_start(pytester: pytest.Pytester) -> None:
    probe = """
        import sys

        def pytest_unconfigure(config):
            names = ("openai", "anthropic", "httpx2", "ecologits", "wrapt")
            with open("imported.txt", "w") as handle:
                handle.write(",".join(n for n in names if n in sys.modules))
    """
    suite(pytester, "def test_plain():\n    assert 1 + 1 == 2\n", conftest=probe)
    result, report = run(pytester)
    assert result.ret == 0
    assert (pytester.path / "imported.txt").read_text() == ""
    assert report["session"]["llm"]["calls"] == 0
    assert "hosted models" not in result.stdout.str()

    calling = """
        def test_call(openai_client):
            openai_client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    """
    suite(pytester, calling, conftest=conftest(0.02))
    result, report = run(pytester, "--carbon-llm=off")
    assert result.ret == 0
    assert "llm" not in report["session"] and "llm" not in report["tests"][0]
    result, report = run(pytester, "-o", "carbon_llm=on")
    assert report["tests"][0]["llm"]["calls"] == 1


def test_ecologits_warnings_become_notes_not_output(pytester: pytest.Pytester) -> None:
    suite(
        pytester,
        """
        def test_call(openai_client):
            openai_client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        """,
    )
    result, report = run(pytester, "-s")
    assert "For further information visit" not in result.stdout.str() + result.stderr.str()
    assert any("model-arch-not-released" in note for note in report["session"]["notes"])
    result.stdout.fnmatch_lines(
        ["*hosted models: 1 call, 4 output tokens;*", "*model*provider*calls*", "*gpt-4o-mini*openai*1*"]
    )


def test_xdist_workers_ship_hosted_calls(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    suite(
        pytester,
        """
        import pytest

        @pytest.fixture(scope="module")
        def warmed(openai_client_module):
            openai_client_module.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "w"}])

        @pytest.mark.parametrize("n", range(4))
        def test_call(openai_client, n, warmed):
            openai_client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        """,
        conftest=conftest(0.02)
        + """
        @pytest.fixture(scope="module")
        def openai_client_module(server):
            import openai
            return openai.OpenAI(base_url=server.url + "/v1", api_key="test-key")
        """,
    )
    result, report = run(pytester, "-n", "2", "--junitxml=junit.xml")
    assert result.ret == 0, result.stdout.str()
    assert all(t["llm"]["calls"] == 1 for t in report["tests"])
    fixture_calls = sum(f["llm"]["calls"] for f in report["fixtures"] if "llm" in f)
    assert 1 <= fixture_calls <= 2  # each worker that ran a test warmed its own client
    assert report["session"]["llm"]["calls"] == 4 + fixture_calls
    assert report["session"]["llm"]["energy_j"] == pytest.approx(
        sum(t["llm"]["energy_j"] for t in report["tests"])
        + sum(f["llm"]["energy_j"] for f in report["fixtures"] if "llm" in f)
    )
    assert (pytester.path / "junit.xml").read_text().count('name="carbon_llm_calls" value="1"') == 4


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ('[llm.endpoints]\n"https://gw.example.com/v1" = "openia"\n', "'openia'"),
        ('[llm.endpoints]\n"https://gw.example.com/v1" = { provider = "openai", zone = "Mars" }\n', "'Mars'"),
        ('[llm.endpoints]\n"gw.example.com" = "openai"\n', "'gw.example.com'"),
        ('[llm.endpoints]\n"https://gw.example.com" = { provider = "openai", region = "SWE" }\n', "'region'"),
        ("[llm]\nendpoint = {}\n", "'endpoint'"),
        ('[llm.models]\n"my-model" = 3\n', "'my-model'"),
        ('[llm]\nmode = "sometimes"\n', "'sometimes'"),
    ],
)
def test_bad_llm_table_is_a_usage_error(pytester: pytest.Pytester, table: str, named: str) -> None:
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    pytester.makefile(".toml", pyproject="[tool.pytest_carbon]\n[tool.pytest_carbon." + table.lstrip("["))
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert named in result.stderr.str()
    assert "[tool.pytest_carbon.llm" in result.stderr.str()


def test_an_sdk_that_cannot_be_observed_is_a_warning_not_an_error(pytester: pytest.Pytester) -> None:
    # A fake `mistralai.client` without the chat module the instrumentation expects.
    package = pytester.mkdir("mistralai")
    (package / "client").mkdir()
    (package / "client" / "__init__.py").write_text("VERSION = 'fake'\n")
    suite(pytester, "def test_import():\n    import mistralai.client\n    assert mistralai.client.VERSION == 'fake'\n")
    result, report = run(pytester)
    assert result.ret == 0, result.stdout.str()
    (warning,) = [w for w in report["session"]["warnings"] if "mistralai.client" in w]
    assert "not charged: observing it failed (ModuleNotFoundError" in warning
