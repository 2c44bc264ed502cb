"""The OpenAI-compatible model client, always through real HTTP against the fake server of `llm_server.py`."""

from __future__ import annotations

import errno
import json
import logging
import re
import socket
import stat
import time
import urllib.request
import warnings
from http import HTTPStatus
from pathlib import Path

import pytest
import spacy
from helpers.llm_server import FakeLLMServer, Reply, chat_completion, usage, user_message

from spacy_clinical_pt.llm.cache import ResponseCache
from spacy_clinical_pt.llm.client import OpenAICompatible, make_openai_compatible

NOTE = "Paciente refere dor torácica com irradiação para membro superior esquerdo."
REPLY = '[{"text": "dor torácica", "label": "Problema"}]'
PRICES = {"date": "2025-11-14", "source": "test table", "input": 2.0, "output": 8.0}
SECRET = "sk-test-9f8e7d6c5b4a"


def messages(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "Extraia as entidades clínicas."}, {"role": "user", "content": text}]


def longest_shared_run(text: str, note: str = NOTE) -> int:
    """The length of the longest piece of `note` that `text` holds (case ignored)."""
    text, note = text.casefold(), note.casefold()
    longest = 0
    for start in range(len(note)):
        while start + longest < len(note) and note[start:start + longest + 1] in text:
            longest += 1
    return longest


def make_client(server: FakeLLMServer, tmp_path: Path, **overrides) -> OpenAICompatible:
    """A client of the fake server: no key, tiny backoff, cache under tmp_path unless overridden."""
    settings = dict(base_url=server.base_url, api_key_env=None, backoff=0.01, max_backoff=0.05, timeout=5.0,
                    cache_dir=str(tmp_path / "cache"))
    settings.update(overrides)
    return make_openai_compatible("gpt-test", **settings)


def test_reply_text_tokens_and_cost(tmp_path):
    with FakeLLMServer(Reply(content=REPLY, usage=usage(1200, 300, reasoning=200))) as server:
        model = make_client(server, tmp_path, prices=PRICES, temperature=0.1, reasoning_effort="low", max_tokens=512,
                            extra_body={"seed": 7})
        [[response]] = model([[messages(NOTE)]])
    assert response.text == REPLY
    assert response.error is None and response.attempts == 1 and not response.cached
    assert (response.prompt_tokens, response.completion_tokens, response.reasoning_tokens) == (1200, 300, 200)
    assert response.cost_usd == pytest.approx(1200 * 2.0 / 1e6 + 300 * 8.0 / 1e6)  # 0.0048 USD
    assert response.model == "fake-model" and response.latency_s > 0
    [request] = server.requests
    assert request.body == {"model": "gpt-test", "messages": messages(NOTE), "temperature": 0.1,
                            "reasoning_effort": "low", "max_completion_tokens": 512, "seed": 7}
    assert model.requests_made == 1


def test_null_parameters_are_not_sent_and_no_prices_means_no_cost(tmp_path):
    with FakeLLMServer(Reply(content=REPLY, usage=usage(10, 5))) as server:
        [[response]] = make_client(server, tmp_path, temperature=None)([[messages(NOTE)]])
    assert server.requests[0].body == {"model": "gpt-test", "messages": messages(NOTE)}
    assert response.cost_usd is None


def test_429_is_retried_after_the_servers_retry_after(tmp_path):
    script = [Reply(status=429, content="Rate limit reached", headers={"Retry-After": "0.2"}), Reply(content=REPLY)]
    with FakeLLMServer(script) as server:
        model = make_client(server, tmp_path, max_backoff=1.0)
        [[response]] = model([[messages(NOTE)]])
    assert response.text == REPLY and response.error is None
    assert response.attempts == 2 and model.requests_made == 2 and len(server.requests) == 2
    # Retry-After (0.2 s) replaced the 0.01 s backoff.
    assert server.requests[1].at - server.requests[0].at >= 0.2


def test_500_then_success(tmp_path):
    with FakeLLMServer([Reply(status=500, content="internal error"), Reply(content=REPLY)]) as server:
        [[response]] = make_client(server, tmp_path)([[messages(NOTE)]])
    assert (response.text, response.attempts, len(server.requests)) == (REPLY, 2, 2)


def test_backoff_doubles_up_to_its_cap(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    with FakeLLMServer(Reply(status=503, content="overloaded")) as server:
        [[response]] = make_client(server, tmp_path, max_retries=4, backoff=0.01, max_backoff=0.03)(
            [[messages(NOTE)]])
    assert re.findall(r"attempt (\d) of 5; retrying in ([\d.]+) s", caplog.text) == [
        ("1", "0.01"), ("2", "0.02"), ("3", "0.03"), ("4", "0.03")]
    assert response.error == "HTTP 503 Service Unavailable (fake_error): overloaded after 5 attempts"
    assert response.text == "" and response.attempts == 5 and len(server.requests) == 5


def test_timeout_gives_that_doc_an_error_and_the_run_goes_on(tmp_path):
    def slow_for_one_note(body):
        return Reply(content=REPLY, delay=1.0 if "lenta" in user_message(body) else 0.0)

    with FakeLLMServer(slow_for_one_note) as server:
        model = make_client(server, tmp_path, timeout=0.2, max_retries=1)
        responses = model([[messages(NOTE)], [messages("Nota lenta.")], [messages("Nega febre.")]])
    fast_1, slow, fast_2 = (doc_responses[0] for doc_responses in responses)
    assert slow.text == "" and slow.error == "timeout after 2 attempts" and slow.attempts == 2
    assert fast_1.text == fast_2.text == REPLY and fast_1.error is None and fast_2.error is None
    assert len(server.requests) == 4


def test_one_deadline_per_attempt_even_for_a_slowly_sent_body(tmp_path):
    slow = Reply(content=REPLY, chunks=12, chunk_delay=0.25)  # 3 s in all, no read waits more than 0.25 s
    with FakeLLMServer(slow) as server:
        model = make_client(server, tmp_path, timeout=0.8, max_retries=0)
        started = time.monotonic()
        [[response]] = model([[messages(NOTE)]])
        elapsed = time.monotonic() - started
    assert response.error == "timeout" and response.text == "" and len(server.requests) == 1
    assert 0.8 <= elapsed < 1.5


# --- the request goes to the checked host only ---

PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def test_proxy_variables_are_ignored(tmp_path, monkeypatch):
    """Hospital networks set proxy variables; notes still go only to the host the guard checked."""
    with FakeLLMServer(Reply(content=REPLY)) as server, FakeLLMServer(Reply(content="via a proxy")) as proxy:
        for name in PROXY_VARIABLES:
            monkeypatch.setenv(name, proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        # As in a process started with these variables: urllib reads them once, into its default opener.
        monkeypatch.setattr(urllib.request, "_opener", None)
        [[response]] = make_client(server, tmp_path)([[messages(NOTE)]])
    assert proxy.requests == []
    assert response.text == REPLY and len(server.requests) == 1


def test_a_proxy_named_in_the_config_is_used(tmp_path, monkeypatch):
    with FakeLLMServer(Reply(content=REPLY)) as server, FakeLLMServer(Reply(content="via the proxy")) as proxy:
        monkeypatch.setenv("HTTP_PROXY", server.url)  # the variable is ignored for the config's proxy too
        [[response]] = make_client(server, tmp_path, proxy=proxy.url)([[messages(NOTE)]])
    assert server.requests == [] and response.text == "via the proxy"
    [request] = proxy.requests
    assert request.path == f"{server.base_url}/chat/completions"  # the absolute form a proxy is sent
    assert request.body["messages"] == messages(NOTE)


@pytest.mark.parametrize(
    "proxy, message",
    [
        ("http://proxy.hospital.example:3128", r"notes would be sent to the proxy proxy\.hospital\.example; set "
                                               r"`allow_remote = true`"),
        ("socks5://127.0.0.1:1080", r"proxy must be an http:// URL, not 'socks5://127\.0\.0\.1:1080'"),
        ("http://nurse:secret@127.0.0.1:3128", r"proxy must not hold credentials"),
        ("http://127.0.0.1:99999", r"proxy has no valid port"),
    ],
)
def test_a_proxy_is_checked_like_the_base_url(proxy, message, no_network):
    with pytest.raises(ValueError, match=message) as refused:
        make_openai_compatible("m", base_url="http://127.0.0.1:9/v1", api_key_env=None, proxy=proxy)
    assert "secret" not in str(refused.value)
    assert no_network == []


def test_a_remote_proxy_needs_the_opt_in(no_network):
    model = make_openai_compatible("m", base_url="http://127.0.0.1:9/v1", api_key_env=None,
                                   proxy="http://proxy.hospital.example:3128", allow_remote=True)
    assert model.requests_made == 0 and no_network == []


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_and_is_that_notes_error(tmp_path, monkeypatch, status):
    monkeypatch.setenv("CLINICAL_PT_TEST_KEY", SECRET)
    with FakeLLMServer(Reply(content=REPLY)) as elsewhere:
        moved = Reply(status=status, content="moved", headers={"Location": f"{elsewhere.base_url}/chat/completions"})
        with FakeLLMServer(moved) as server:
            [[response]] = make_client(server, tmp_path, api_key_env="CLINICAL_PT_TEST_KEY")([[messages(NOTE)]])
    assert elsewhere.requests == []
    assert response.error == f"HTTP {status} {HTTPStatus(status).phrase}: redirect not followed"
    assert response.text == "" and response.attempts == 1 and len(server.requests) == 1
    assert not list((tmp_path / "cache").rglob("*.json"))


def test_a_refused_connection_is_retried_then_reported(tmp_path):
    with socket.socket() as probe:  # a loopback port with nothing listening once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = make_openai_compatible("m", base_url=f"http://127.0.0.1:{port}/v1", api_key_env=None, max_retries=1,
                                   backoff=0.01, cache_dir=str(tmp_path / "cache"))
    [[response]] = model([[messages(NOTE)]])
    assert response.error == "connection error (ConnectionRefusedError) after 2 attempts"
    assert model.requests_made == 2 and response.text == ""

def test_400_fails_at_once_with_status_type_code_and_an_excerpt_of_the_message(tmp_path):
    reply = Reply(status=400, content="Unsupported value: 'temperature' does not support 0.1 with this model.",
                  error_type="invalid_request_error", error_code="unsupported_value")
    with FakeLLMServer([reply, Reply(content=REPLY)]) as server:
        [[response]] = make_client(server, tmp_path)([[messages(NOTE)]])
    assert response.error == ("HTTP 400 Bad Request (invalid_request_error, unsupported_value): "
                              "Unsupported value: 'temperature' does...")
    assert response.attempts == 1 and len(server.requests) == 1 and response.text == ""


def test_a_provider_error_that_echoes_the_note_carries_none_of_it(tmp_path, caplog):
    """Providers quote the prompt in some errors; the server's status phrase is its own text too."""
    caplog.set_level(logging.DEBUG)
    echo = Reply(status=500, content=f"{NOTE} could not be processed", reason=NOTE[:50],
                 error_type="server_error", error_code=None)
    gemini = Reply(status=400, body=[{"error": {"code": 400, "status": "INVALID_ARGUMENT",
                                                "message": f"Invalid value at 'messages[1]' ({NOTE})"}}])
    with FakeLLMServer([echo, echo, gemini]) as server:
        [[response]] = make_client(server, tmp_path, max_retries=2)([[messages(NOTE)]])
    # Google's error list, the message cut to 40 characters.
    assert response.error == ("HTTP 400 Bad Request (INVALID_ARGUMENT, 400): Invalid value at "
                              "'messages[1]' ([prom... after 3 attempts")
    assert len(server.requests) == 3
    assert "HTTP 500 Internal Server Error (server_error): [prompt text] could not be processed)" in caplog.text
    assert caplog.records and max(longest_shared_run(record.getMessage()) for record in caplog.records) < 12
    assert longest_shared_run(response.error) < 12


def test_a_provider_error_that_echoes_the_key_does_not_carry_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CLINICAL_PT_TEST_KEY", SECRET)
    reply = Reply(status=401, content=f"Incorrect API key provided: {SECRET}.", error_type="invalid_request_error",
                  error_code="invalid_api_key")
    with FakeLLMServer(reply) as server:
        [[response]] = make_client(server, tmp_path, api_key_env="CLINICAL_PT_TEST_KEY")([[messages(NOTE)]])
    assert response.error == "HTTP 401 Unauthorized (invalid_request_error, invalid_api_key): Incorrect API key " \
                             "provided: [key]."
    assert SECRET not in response.error and SECRET[:12] not in response.error


@pytest.mark.parametrize(
    "body, error",
    [
        ("<html>gateway</html>", "malformed reply: not a chat completion JSON"),
        ({"choices": []}, "malformed reply: not a chat completion JSON"),
        ({"choices": [{"message": {"role": "assistant", "content": None}, "finish_reason": "length"}]},
         "malformed reply: no message content (finish_reason=length)"),
    ],
)
def test_malformed_body_is_an_error_not_retried(tmp_path, body, error):
    with FakeLLMServer(Reply(body=body)) as server:
        model = make_client(server, tmp_path)
        [[response]] = model([[messages(NOTE)]])
    assert response.error == error and response.text == "" and len(server.requests) == 1
    assert not list((tmp_path / "cache").rglob("*.json"))  # failures are not cached


@pytest.mark.parametrize(
    "body",
    ["[" * 100_000 + "]" * 100_000,  # deeper than Python's recursion limit
     '{"choices": [{"message": {"content": "ok"}}], "usage": {"prompt_tokens": 1' + "0" * 5000 + "}}"],
    ids=["deep-nesting", "5000-digit-number"],
)
def test_a_body_json_cannot_read_is_an_error_for_that_note_only(tmp_path, body):
    def one_bad(request):
        return Reply(body=body) if "lenta" in user_message(request) else Reply(content=REPLY)

    with FakeLLMServer(one_bad) as server:
        responses = make_client(server, tmp_path)([[messages("Nota lenta.")], [messages(NOTE)]])
    bad, good = (doc_responses[0] for doc_responses in responses)
    assert bad.error == "malformed reply: not a chat completion JSON" and bad.text == ""
    assert good.text == REPLY and good.error is None


def reply_with_usage(prompt_tokens: str, details: str = '{"reasoning_tokens": 5}') -> Reply:
    """A 200 reply whose usage holds `prompt_tokens` as raw JSON text (1e400 reads as infinity)."""
    return Reply(body='{"model": "fake-model", "choices": [{"message": {"role": "assistant", "content": "[]"}}], '
                      f'"usage": {{"prompt_tokens": {prompt_tokens}, "completion_tokens": 30, '
                      f'"completion_tokens_details": {details}}}}}')


@pytest.mark.parametrize(
    "raw, expected",
    [("1e400", None), ("-3", None), ('"1200"', None), ("true", None), ("1" + "0" * 30, None), ("12.5", None),
     ("null", None), ("1200.0", 1200), ("1200", 1200)],
)
def test_usage_figures_that_are_not_token_counts_are_unknown_with_a_warning(tmp_path, caplog, raw, expected):
    def one_odd(body):
        return reply_with_usage(raw) if "lenta" in user_message(body) else Reply(content="[]", usage=usage(100, 10))

    caplog.set_level(logging.WARNING, logger="spacy_clinical_pt.llm.client")
    with FakeLLMServer(one_odd) as server:
        responses = make_client(server, tmp_path, prices=PRICES)([[messages("Nota lenta.")], [messages(NOTE)]])
    odd, plain = (doc_responses[0] for doc_responses in responses)
    assert odd.error is None and odd.text == "[]" and plain.error is None  # the run goes on
    assert (odd.prompt_tokens, odd.completion_tokens, odd.reasoning_tokens) == (expected, 30, 5)
    assert plain.total_tokens == 110
    if expected is None:
        assert odd.total_tokens is None and odd.cost_usd is None
        assert caplog.messages == ["LLM reply usage.prompt_tokens is not a token count (an integer from 0 to "
                                   "1,000,000,000): recorded as unknown"]
    else:
        assert odd.total_tokens == 1230 and odd.cost_usd == pytest.approx(1200 * 2.0 / 1e6 + 30 * 8.0 / 1e6)
        assert caplog.messages == []


def test_usage_details_that_are_not_an_object_leave_the_reply_whole(tmp_path):
    with FakeLLMServer(reply_with_usage("100", details='"n/a"')) as server:
        [[response]] = make_client(server, tmp_path)([[messages(NOTE)]])
    assert response.error is None and (response.prompt_tokens, response.reasoning_tokens) == (100, None)


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_a_cache_folder_that_cannot_be_one_is_refused_when_built(tmp_path, where):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("not a folder", encoding="utf8")
    cache_dir = blocker if where == "a file" else blocker / "cache"
    with pytest.raises(ValueError, match=re.escape(f"cache_dir {cache_dir}: {blocker} is not a folder")):
        make_openai_compatible("m", base_url="http://127.0.0.1:9/v1", api_key_env=None, cache_dir=str(cache_dir))


def test_a_failed_cache_write_is_recorded_for_that_note_and_the_run_goes_on(tmp_path, monkeypatch, caplog):
    def full_disk(self, key, response):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ResponseCache, "put", full_disk)
    with FakeLLMServer(Reply(content=REPLY)) as server:
        responses = make_client(server, tmp_path)([[messages(NOTE)], [messages("Nega febre.")]])
    assert [doc_responses[0].text for doc_responses in responses] == [REPLY, REPLY]
    assert [doc_responses[0].cache_error for doc_responses in responses] == [
        "reply not cached: No space left on device"] * 2
    assert responses[0][0].accounting()["cache_error"] == "reply not cached: No space left on device"
    assert "LLM reply not cached (No space left on device)" in caplog.text


def test_a_cache_entry_of_the_wrong_shape_is_asked_again(tmp_path, caplog):
    with FakeLLMServer(Reply(content=REPLY, usage=usage(10, 5))) as server:
        make_client(server, tmp_path)([[messages(NOTE)]])
        [entry] = (tmp_path / "cache").rglob("*.json")
        entry.write_text(json.dumps({**json.loads(entry.read_text()), "text": 5}), encoding="utf-8")
        [[response]] = make_client(server, tmp_path)([[messages(NOTE)]])
    assert response.text == REPLY and not response.cached and len(server.requests) == 2
    assert "ignoring unreadable LLM cache entry" in caplog.text


def test_cache_hit_makes_no_request_and_gives_the_same_reply(tmp_path):
    with FakeLLMServer(Reply(content=REPLY, usage=usage(1000, 100, reasoning=40), delay=0.05)) as server:
        first = make_client(server, tmp_path, prices=PRICES)([[messages(NOTE)]])[0][0]
        # A new client (a rerun) with a newer price table: same reply, cost from the new table.
        rerun = make_client(server, tmp_path, prices={**PRICES, "input": 1.0})
        second = rerun([[messages(NOTE)]])[0][0]
    assert len(server.requests) == 1 and rerun.requests_made == 0
    assert second.cached and not first.cached and second.attempts == 0
    assert (second.text, second.prompt_tokens, second.completion_tokens, second.reasoning_tokens, second.model) == (
        first.text, first.prompt_tokens, first.completion_tokens, first.reasoning_tokens, first.model)
    assert second.latency_s == first.latency_s >= 0.05
    assert second.cost_usd == pytest.approx(1000 * 1.0 / 1e6 + 100 * 8.0 / 1e6)
    [entry] = (tmp_path / "cache").rglob("*.json")
    assert entry.parent.name == entry.stem[:2] and len(entry.stem) == 64
    assert NOTE not in entry.read_text(encoding="utf-8")  # the key is a hash: no note text on disk
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == 0o700


def test_other_temperature_or_no_cache_sends_a_new_request(tmp_path):
    with FakeLLMServer(Reply(content=REPLY)) as server:
        make_client(server, tmp_path, temperature=0.1)([[messages(NOTE)]])
        make_client(server, tmp_path, temperature=0.7)([[messages(NOTE)]])
        make_client(server, tmp_path, temperature=0.7)([[messages(NOTE)]])
        uncached = make_client(server, tmp_path, temperature=0.7, cache_dir=None)
        uncached([[messages(NOTE)]])
    assert [request.body["temperature"] for request in server.requests] == [0.1, 0.7, 0.7]
    assert uncached.requests_made == 1 and len(list((tmp_path / "cache").rglob("*.json"))) == 2


def test_api_key_is_sent_as_bearer_and_never_logged_or_cached(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("CLINICAL_PT_TEST_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    with FakeLLMServer([Reply(status=429, content="slow down"), Reply(content=REPLY)]) as server:
        model = make_client(server, tmp_path, api_key_env="CLINICAL_PT_TEST_KEY")
        [[response]] = model([[messages(NOTE)]])
    assert response.text == REPLY
    assert [request.headers["authorization"] for request in server.requests] == [f"Bearer {SECRET}"] * 2
    assert "attempt 1 of 6" in caplog.text and "429" in caplog.text  # the retry was logged...
    assert SECRET not in caplog.text and "torácica" not in caplog.text  # ...without the key or the note
    assert SECRET not in repr(model)
    cache_files = list((tmp_path / "cache").rglob("*"))
    assert cache_files and all(SECRET not in path.read_text() for path in cache_files if path.is_file())


def test_no_authorization_header_without_a_key_variable(tmp_path):
    with FakeLLMServer(Reply(content=REPLY)) as server:
        make_client(server, tmp_path, api_key_env=None)([[messages(NOTE)]])
        make_client(server, tmp_path, api_key_env="", cache_dir=None)([[messages(NOTE)]])
    assert all("authorization" not in request.headers for request in server.requests)
    assert len(server.requests) == 2


@pytest.mark.parametrize("key", [f"{SECRET}\n", f"Bearer {SECRET}", f"{SECRET}é"])
def test_a_key_that_cannot_be_a_header_is_refused_without_repeating_it(monkeypatch, key):
    monkeypatch.setenv("CLINICAL_PT_TEST_KEY", key)
    with pytest.raises(ValueError, match="CLINICAL_PT_TEST_KEY .*holds characters an API key does not have") as bad:
        make_openai_compatible("gpt-test", base_url="http://127.0.0.1:9/v1", api_key_env="CLINICAL_PT_TEST_KEY")
    assert SECRET not in str(bad.value)


def test_a_missing_key_variable_is_named_in_the_error(monkeypatch):
    monkeypatch.delenv("CLINICAL_PT_ABSENT_KEY", raising=False)
    with pytest.raises(ValueError, match="environment variable CLINICAL_PT_ABSENT_KEY .*not set"):
        make_openai_compatible("gpt-test", base_url="http://127.0.0.1:9/v1", api_key_env="CLINICAL_PT_ABSENT_KEY")


@pytest.fixture
def no_network(monkeypatch):
    """Records every DNS lookup and connection attempt (and blocks them)."""
    attempts: list[object] = []

    def blocked(*args, **kwargs):
        attempts.append(args[0] if args else kwargs)
        raise OSError("network use in a test that must not use the network")

    monkeypatch.setattr(socket, "getaddrinfo", blocked)
    monkeypatch.setattr(socket, "create_connection", blocked)
    return attempts


def test_a_remote_host_is_refused_when_built_before_any_network_use(no_network, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with pytest.raises(ValueError, match=r"notes would be sent to api\.openai\.com; set `allow_remote = true`"):
        make_openai_compatible("gpt-5-mini", base_url="https://api.openai.com/v1")
    # Look-alike names of this machine are not trusted either (only the literal loopback names are).
    with pytest.raises(ValueError, match="notes would be sent to localhost.example.org"):
        make_openai_compatible("m", base_url="http://localhost.example.org/v1", api_key_env=None)
    assert no_network == []


def test_allow_remote_opts_in_without_calling(no_network, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    model = make_openai_compatible("gpt-5-mini", allow_remote=True, temperature=None, reasoning_effort="minimal")
    assert (model.name, model.base_url, model.requests_made) == ("gpt-5-mini", "https://api.openai.com/v1", 0)
    assert no_network == []


@pytest.mark.parametrize("base_url", ["http://localhost:8000/v1", "http://127.0.0.2:11434/v1", "http://[::1]:8000/v1"])
def test_loopback_hosts_need_no_opt_in(base_url, no_network):
    assert make_openai_compatible("m", base_url=base_url, api_key_env=None).base_url == base_url
    assert no_network == []


@pytest.mark.parametrize("base_url", ["file:///etc/passwd", "ftp://127.0.0.1/v1"])
def test_other_schemes_are_refused(base_url):
    with pytest.raises(ValueError, match="must be an http:// or https:// URL"):
        make_openai_compatible("m", base_url=base_url, api_key_env=None, allow_remote=True)


def test_concurrency_is_bounded_and_order_kept(tmp_path):
    def echo(body):
        return Reply(content=f"reply to {user_message(body)}", delay=0.1)

    notes = [f"nota {index}" for index in range(6)]
    with FakeLLMServer(echo) as server:
        responses = make_client(server, tmp_path, max_concurrency=2)([[messages(note)] for note in notes])
    assert [doc_responses[0].text for doc_responses in responses] == [f"reply to {note}" for note in notes]
    assert len(server.requests) == 6 and server.max_in_flight == 2


def test_several_prompts_per_doc_and_a_string_prompt(tmp_path):
    def echo(body):
        return Reply(content=user_message(body).upper())

    with FakeLLMServer(echo) as server:
        responses = make_client(server, tmp_path)([["primeira", messages("segunda")], [], ["terceira"]])
    assert [[response.text for response in doc_responses] for doc_responses in responses] == [
        ["PRIMEIRA", "SEGUNDA"], [], ["TERCEIRA"]]


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"reasoning_effort": "extreme"}, "reasoning_effort must be one of minimal, low, medium, high"),
        ({"max_concurrency": 0}, "max_concurrency must be at least 1"),
        ({"backoff": 2.0, "max_backoff": 1.0}, "need 0 <= backoff <= max_backoff"),
        ({"prices": {"date": "2025-11-14", "input": 1.0}}, r"prices\['output'\] must be USD per 1M tokens"),
        ({"extra_body": {"messages": []}}, "extra_body may not set messages"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(settings, message):
    with pytest.raises(ValueError, match=message):
        make_openai_compatible("m", base_url="http://127.0.0.1:9/v1", api_key_env=None, **settings)


def test_a_malformed_message_is_refused_without_its_content(tmp_path):
    with FakeLLMServer(Reply(content=REPLY)) as server:
        model = make_client(server, tmp_path)
        with pytest.raises(TypeError, match=r"'role' and 'content', got dict with keys \['text'\]"):
            model([[[{"text": NOTE}]]])
    assert server.requests == []


def test_the_registered_model_runs_in_an_llm_pipe(tmp_path):
    """spacy-llm resolves the model by its registered name, accepts its signature and gets one reply per doc."""
    with FakeLLMServer(Reply(body=chat_completion("ok", usage(3, 1)))) as server:
        nlp = spacy.blank("pt")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NoOp's parser expects strings, this model returns ChatResponses
            nlp.add_pipe("llm", config={
                "task": {"@llm_tasks": "spacy.NoOp.v1"},
                "model": {"@llm_models": "spacy_clinical_pt.OpenAICompatible.v1", "name": "local-model",
                          "base_url": server.base_url, "api_key_env": None, "cache_dir": None},
            })
        doc = nlp(NOTE)
    assert doc.text == NOTE
    [request] = server.requests
    assert request.body["model"] == "local-model"
    assert request.body["messages"] == [{"role": "user", "content": "Don't do anything."}]



def test_a_key_that_straddles_the_read_part_of_a_provider_message_is_replaced_whole():
    from spacy_clinical_pt.llm.privacy import MESSAGE_CHARS, provider_message, redact

    key = "sk-" + "k" * 37
    message = "x" * (MESSAGE_CHARS - 10) + key + " rest"
    assert "sk-" not in redact(message, [], [key]) and "[key]" in redact(message, [], [key])
    assert "sk-" not in provider_message(" " * (MESSAGE_CHARS - 10) + key, [], [key])
