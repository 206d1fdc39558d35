"""What an outside user's try-out of the CLI found: a Redis Cluster URL nobody answers (exit 70
and rows held back), the resume command without the receipt options, feedback's 404 hint, and
`send` cutting a long text without a word.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from eightxeight_async import RateLimiterUnavailableError, RedisRateLimiter, ValidationError
from eightxeight_async import _cli_errors as errs
from eightxeight_async._cli_bulk_receipts import ENV_AUTHORIZATION
from eightxeight_async._cli_options import Settings
from eightxeight_async._errors import NotFoundError
from eightxeight_async.bulk import Journal, RowState
from eightxeight_async.sandbox import Sandbox

from .integration.cli_support import invoke, sandbox_env, sandbox_in_thread
from .redis_support import RedisServer, free_port, running_redis

pytest.importorskip("redis", reason="the [redis] extra is not installed")

ENV = "EIGHTXEIGHT_REDIS_URL"
SECRET = "Basic dHJ5b3V0LXNlY3JldA=="
UMID = "00000000-0000-0000-0000-000000000000"


def cluster_url(port: int) -> str:
    return f"redis://127.0.0.1:{port}?cluster=true"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with sandbox_in_thread(tmp_path / "ca", sent_after=0.0, delivered_after=0.0) as running:
        yield running


@pytest.fixture
def rows(tmp_path: Path) -> Path:
    path = tmp_path / "d.csv"
    path.write_text("phone,name\n+6591230001,Dee\n+6591230002,Eve\n")
    return path


def run(sandbox: Sandbox, *args: str, **env: str) -> tuple[int, str, str]:
    code, out, err = invoke(list(args), {ENV: "", **sandbox_env(sandbox), **env})
    assert "Traceback" not in out + err
    assert "internal error" not in err
    return code, out, err


# --- 1. a Redis Cluster nobody answers -------------------------------------------------------


async def test_an_unreachable_cluster_raises_the_typed_error() -> None:
    """redis-py's RedisClusterException is no RedisError: it was let through as is."""
    limiter = RedisRateLimiter.from_url(cluster_url(free_port()), on_failure="raise", timeout=5)
    try:
        with pytest.raises(RateLimiterUnavailableError) as caught:
            await limiter.acquire("k", rate=1.0, burst=1)
        assert "nothing was sent" in str(caught.value)
        assert "(cluster)" in str(caught.value)
        await limiter.pause("k", 1.0)  # a pause never raises: it holds in this process
    finally:
        await limiter.aclose()


async def test_an_unreachable_cluster_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RedisRateLimiter.from_url(cluster_url(free_port()), timeout=5)
    try:
        with caplog.at_level(logging.WARNING, logger="eightxeight_async.redis"):
            await limiter.acquire("k", rate=1.0, burst=1)
        assert limiter.fallback_active
        assert "RedisClusterException" in caplog.text
    finally:
        await limiter.aclose()


@pytest.mark.parametrize(
    "url",
    ["unix:///tmp/nowhere.sock?cluster=true", "redis://:pw-secret@127.0.0.1:1/3?cluster=true"],
)
def test_what_a_cluster_cannot_be_is_refused_before_io(url: str) -> None:
    """redis-py raises RedisClusterException from the constructor: a ValidationError here."""
    with pytest.raises(ValidationError) as caught:
        RedisRateLimiter.from_url(url)
    assert caught.value.field == "url"
    assert "pw-secret" not in str(caught.value)


@pytest.mark.integration
@pytest.mark.parametrize(
    "url",
    ["unix:///tmp/nowhere.sock?cluster=true", "redis://:pw-secret@127.0.0.1:1/3?cluster=true"],
)
def test_the_cli_names_the_option_of_a_url_no_cluster_takes(sandbox: Sandbox, url: str) -> None:
    code, out, err = run(sandbox, "send", "--to", "+6591230001", "--text", "hi", "--redis-url", url)
    assert code == 3, err
    assert "Invalid --redis-url" in err
    assert "cluster=true" in err
    assert "pw-secret" not in out + err
    assert sandbox.state.requests["send_sms"] == 0


@pytest.fixture(scope="module")
def plain_redis() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


@pytest.mark.integration
async def test_cluster_mode_on_a_plain_redis_is_unavailable(plain_redis: RedisServer) -> None:
    """A server that answers but is not in cluster mode: the same typed error, not a crash."""
    limiter = RedisRateLimiter.from_url(
        f"{plain_redis.url}?cluster=true", on_failure="raise", timeout=5
    )
    try:
        with pytest.raises(RateLimiterUnavailableError):
            await asyncio.wait_for(limiter.acquire("k", rate=1.0, burst=1), 60)
    finally:
        await limiter.aclose()


@pytest.mark.integration
def test_send_through_an_unreachable_cluster_exits_5(sandbox: Sandbox) -> None:
    code, _, err = run(
        sandbox, "send", "--to", "+6591230001", "--text", "hi", "--redis-url", cluster_url(1)
    )
    assert code == 5, err
    assert "Nothing was sent" in err
    assert "--redis-url" in err
    assert sandbox.state.requests["send_sms"] == 0


@pytest.mark.integration
def test_bulk_through_an_unreachable_cluster_sends_nothing_and_allows_a_rerun(
    sandbox: Sandbox, rows: Path
) -> None:
    """Exit 5, no row "outcome unknown"; the plain rerun sends both rows."""
    code, _, err = run(
        sandbox, "bulk", str(rows), "--template", "Hi {{name}}", "--redis-url", cluster_url(1)
    )
    assert code == 5, err
    assert "Nothing was sent" in err
    assert "outcome unknown" not in err
    assert "--reconcile" not in err
    assert sandbox.state.requests["send_sms"] == 0
    with Journal(f"{rows}.journal") as journal:
        (job,) = journal.jobs()
        summary = journal.summary(job.job_id)
        assert summary[RowState.UNKNOWN] == 0
        assert summary[RowState.PENDING] == 2
    code, _, err = run(sandbox, "bulk", str(rows), "--template", "Hi {{name}}")
    assert code == 0, err
    assert len(sandbox.state.messages) == 2


# --- 7. the resume command without the receipt options ---------------------------------------


@pytest.mark.integration
def test_the_resume_command_asks_for_the_receipt_options_again(
    sandbox: Sandbox, rows: Path
) -> None:
    listen = f"127.0.0.1:{free_port()}"
    code, out, err = run(
        sandbox,
        "bulk",
        str(rows),
        "--template",
        "Hi {{name}}",
        "--receipts-listen",
        listen,
        "--receipts-wait",
        "0",
        **{ENV_AUTHORIZATION: SECRET},
    )
    assert code == 0, err
    assert "(add your --receipts-listen options again)" in err
    assert "--redis-url" not in err
    assert SECRET not in out + err
    resume = next(line for line in err.splitlines() if "resume with:" in line)
    assert "--receipts" not in resume


@pytest.mark.integration
def test_both_notes_in_one_line(sandbox: Sandbox, rows: Path, plain_redis: RedisServer) -> None:
    code, _, err = run(
        sandbox,
        "bulk",
        str(rows),
        "--template",
        "Hi {{name}}",
        "--redis-url",
        plain_redis.url,
        "--receipts-listen",
        f"127.0.0.1:{free_port()}",
        "--receipts-wait",
        "0",
        **{ENV_AUTHORIZATION: SECRET},
    )
    assert code == 0, err
    assert "(add your --redis-url and --receipts-listen options again)" in err


# --- 8. feedback's 404 ------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("command", [["feedback", UMID, "success"], ["status", UMID]])
def test_a_umid_not_found_does_not_blame_the_base_url(sandbox: Sandbox, command: list[str]) -> None:
    code, _, err = run(sandbox, *command)
    assert code == 4, err
    assert "not found" in err
    assert "Check the UMID" in err
    assert "path of the base URL" not in err


@pytest.mark.integration
@pytest.mark.parametrize("command", [["feedback", UMID, "success"], ["status", UMID]])
def test_a_path_prefix_is_still_named(sandbox: Sandbox, command: list[str]) -> None:
    code, _, err = run(sandbox, *command, EIGHTXEIGHT_BASE_URL=sandbox.base_url + "/prefix")
    assert code == 4, err
    assert "Check the UMID" in err
    assert "path of the base URL" in err


# --- 9b. send warns before 8x8 cuts a long text -------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("as_json", [False, True])
def test_send_warns_when_8x8_will_cut_the_text(sandbox: Sandbox, as_json: bool) -> None:
    flags = ["--json"] if as_json else []
    code, out, err = run(sandbox, *flags, "send", "--to", "+6591230001", "--text", "x" * 5000)
    assert code == 0, err  # a warning, not a refusal
    assert "warning: the text needs 33 parts; 8x8 sends the first 10 and cuts the rest." in err
    if as_json:
        json.loads(out)  # stdout stays one JSON document
    assert len(sandbox.state.messages) == 1


@pytest.mark.integration
def test_send_says_nothing_of_a_text_that_fits(sandbox: Sandbox) -> None:
    code, _, err = run(sandbox, "send", "--to", "+6591230001", "--text", "x" * 1530)
    assert code == 0, err
    assert "warning" not in err


# --- 8, the other commands: a 404 hint that fits what each one sends ------------------------------


def _not_found() -> NotFoundError:
    request = httpx.Request("POST", "https://127.0.0.1:9/api/v1/subaccounts/acme_hq/messages")
    return NotFoundError(
        "8x8 rejected the request (HTTP 404, code 1300)",
        response=httpx.Response(404, request=request),
        code=1300,
    )


@pytest.mark.parametrize(
    ("command", "base_url", "expected", "not_expected"),
    [
        # bulk names no UMID or survey id: only the base URL can be wrong (it said "the UMID")
        ("bulk", "https://127.0.0.1:9", "path of the base URL", "UMID"),
        ("bulk", "https://127.0.0.1:9/prefix", "path of the base URL", "UMID"),
        ("feedback", "https://127.0.0.1:9", "Check the UMID", "path of the base URL"),
        ("survey", "https://127.0.0.1:9", "Check the survey id", "path of the base URL"),
        ("survey", "https://127.0.0.1:9/p", "path of the base URL", None),
    ],
)
def test_each_command_gets_the_404_hint_that_fits(
    command: str, base_url: str, expected: str, not_expected: str | None
) -> None:
    settings = Settings()
    settings.base_url = base_url
    settings.command = command
    _, _, hints, _ = errs.describe(_not_found(), settings)
    text = " ".join(hints)
    assert expected in text
    if not_expected:
        assert not_expected not in text
