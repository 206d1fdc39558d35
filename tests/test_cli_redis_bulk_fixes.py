"""``--redis-url`` mistakes `eightxeight bulk` (and the SDK) must put in the user's terms: a wrong
password, TLS to a plain port, the resume command without the URL, on_failure in any case.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eightxeight_async.bulk import Journal
from eightxeight_async.sandbox import Sandbox

from .integration.cli_support import invoke, sandbox_env, sandbox_in_thread
from .redis_support import RedisServer, running_redis

pytest.importorskip("redis", reason="the [redis] extra is not installed")
pytestmark = pytest.mark.integration

ENV = "EIGHTXEIGHT_REDIS_URL"


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with running_redis(password="pw-secret") as server:
        yield server


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with sandbox_in_thread(tmp_path, sent_after=0.0, delivered_after=0.0) as running:
        yield running


@pytest.fixture
def contacts(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    path.write_text("to,text\n+6591234567,Hi\n+6591234568,Ho\n")
    return path


def bulk(sandbox: Sandbox, *args: str) -> tuple[int, str, str]:
    return invoke(["bulk", *args], {ENV: "", **sandbox_env(sandbox)})


def test_on_failure_takes_any_case() -> None:
    from eightxeight_async import RedisRateLimiter

    limiter = RedisRateLimiter.from_url("redis://127.0.0.1:1/0", on_failure="RAISE")  # type: ignore[arg-type]
    assert "on_failure='raise'" in repr(limiter)


def test_a_wrong_password_is_a_setting_to_fix(
    sandbox: Sandbox, redis_server: RedisServer, contacts: Path
) -> None:
    """AUTH refused: exit 3 naming --redis-url (not 5, an outage); no password shown."""
    url = f"redis://:wrong-pw@127.0.0.1:{redis_server.port}/0"
    code, out, err = bulk(sandbox, str(contacts), "--redis-url", url)
    assert code == 3, err
    assert "Redis refused the credentials of --redis-url" in err
    assert "wrong-pw" not in err + out
    assert not sandbox.state.messages


def test_tls_to_a_plain_port_says_it_may_be_a_mismatch(
    sandbox: Sandbox, redis_server: RedisServer, contacts: Path
) -> None:
    url = f"rediss://:pw-secret@127.0.0.1:{redis_server.port}/0"
    code, out, err = bulk(sandbox, str(contacts), "--redis-url", url)
    assert code == 5, err
    assert "a TLS mismatch fails this way" in err
    assert "pw-secret" not in err + out


def test_the_resume_command_asks_for_the_redis_url_again(
    sandbox: Sandbox, redis_server: RedisServer, contacts: Path
) -> None:
    """The printed command leaves the URL (and its password) out, and says so."""
    code, out, err = bulk(sandbox, str(contacts), "--redis-url", redis_server.url)
    assert code == 0, err
    assert "(add your --redis-url again)" in err
    assert "pw-secret" not in err + out


def test_redis_down_at_the_start_leaves_no_job_in_the_way(
    sandbox: Sandbox, redis_server: RedisServer, contacts: Path
) -> None:
    """Exit 5, nothing sent; the plain rerun is not refused for a job that sent nothing."""
    dead = "redis://127.0.0.1:1/0"
    code, _, err = bulk(sandbox, str(contacts), "--redis-url", dead)
    assert code == 5, err
    code, _, err = bulk(sandbox, str(contacts))
    assert code == 0, err
    assert len(sandbox.state.messages) == 2
    with Journal(f"{contacts}.journal") as journal:
        assert len(journal.jobs()) == 2  # the first sent nothing; the second sent both rows
