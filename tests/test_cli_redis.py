"""``--redis-url`` / ``EIGHTXEIGHT_REDIS_URL``: the commands' limits through a real Redis.

The sandbox serves from its own thread; the commands run in this process (CliRunner) or as a
process of their own where the interpreter's exit matters.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from eightxeight_async.sandbox import Sandbox

from .integration.cli_support import invoke, run_process, sandbox_env, sandbox_in_thread
from .redis_support import RedisServer, free_port, running_redis, tls_files

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


def run(sandbox: Sandbox, *args: str, **env: str) -> tuple[int, str, str]:
    return invoke(list(args), {ENV: "", **sandbox_env(sandbox), **env})


def bucket_keys(server: RedisServer) -> list[str]:
    import redis

    client = redis.Redis(port=server.port, password=server.password, decode_responses=True)
    try:
        return sorted(str(k) for k in client.keys("eightxeight:rl:*"))
    finally:
        client.close()


def flush(server: RedisServer) -> None:
    import redis

    client = redis.Redis(port=server.port, password=server.password)
    try:
        client.flushall()
    finally:
        client.close()


@pytest.mark.parametrize("where", ["before", "after", "env"])
def test_commands_limit_through_redis(
    where: str, sandbox: Sandbox, redis_server: RedisServer
) -> None:
    """send and status take their tokens from Redis, with the option before or after the
    command, or from the variable."""
    flush(redis_server)
    url = redis_server.url
    send = ["send", "--to", "+6591234567", "--text", "hi", "--json"]
    if where == "before":
        code, out, err = run(sandbox, "--redis-url", url, *send)
    elif where == "after":
        code, out, err = run(sandbox, *send, "--redis-url", url)
    else:
        code, out, err = run(sandbox, *send, **{ENV: url})
    assert code == 0, err
    umid = json.loads(out)["umid"]
    assert bucket_keys(redis_server) == [f"eightxeight:rl:{sandbox.subaccount_id}:sends"]
    extra = ["--redis-url", url] if where != "env" else []
    env = {ENV: url} if where == "env" else {}
    code, _, err = run(sandbox, *extra, "status", umid, **env)
    assert code == 0, err
    assert f"eightxeight:rl:{sandbox.subaccount_id}:details" in bucket_keys(redis_server)


def test_without_redis_url_nothing_goes_to_redis(
    sandbox: Sandbox, redis_server: RedisServer
) -> None:
    flush(redis_server)
    code, _, err = run(sandbox, "send", "--to", "+6591234567", "--text", "hi")
    assert code == 0, err
    assert bucket_keys(redis_server) == []


@pytest.mark.parametrize(
    "url",
    [
        "http://:pw-secret@127.0.0.1:6379",
        "redis://:pw-secret@127.0.0.1:notaport",
        "redis://:pw-secret@127.0.0.1:6379/db",
        "   ",
    ],
)
@pytest.mark.parametrize("from_env", [False, True])
def test_a_bad_url_names_the_option_and_sends_nothing(
    url: str, from_env: bool, sandbox: Sandbox
) -> None:
    """Exit 3, one line naming --redis-url (or the variable), no traceback, no password."""
    args = ["send", "--to", "+6591234567", "--text", "hi"]
    if from_env:
        code, out, err = run(sandbox, *args, **{ENV: url})
    else:
        code, out, err = run(sandbox, *args, "--redis-url", url)
    assert code == 3, err
    assert (ENV if from_env else "--redis-url") in err
    assert "Nothing was sent" in err
    assert "Traceback" not in err
    assert "pw-secret" not in err + out
    assert not sandbox.state.messages


@pytest.mark.parametrize("as_json", [False, True])
def test_an_unreachable_redis_names_the_option(sandbox: Sandbox, as_json: bool) -> None:
    """Nothing on the port: exit 5, the option and the URL without its password; nothing sent."""
    url = f"redis://:pw-secret@127.0.0.1:{free_port()}/0"
    args = ["--json"] if as_json else []
    code, out, err = run(
        sandbox, *args, "send", "--to", "+6591234567", "--text", "hi", "--redis-url", url
    )
    assert code == 5, err
    assert "Traceback" not in err
    assert "pw-secret" not in err + out
    assert "limiting in this process only" not in err  # no fallback, so no warning of one
    text = json.loads(out)["error"]["message"] if as_json else err
    assert "--redis-url" in text
    assert "Nothing was sent" in text
    assert "127.0.0.1" in text
    assert not sandbox.state.messages
    assert sandbox.state.requests["send_sms"] == 0


def test_help_lists_the_option() -> None:
    for command in ("send", "status", "feedback", "survey"):
        code, out, _ = invoke([command, "--help"])
        assert code == 0
        assert "--redis-url" in out
        assert ENV in out


async def test_the_process_exits_with_redis_closed(tmp_path: Path) -> None:
    """A whole run as its own process: the limiter's connections are closed, no warning."""
    server = RedisServer().start()
    try:
        async with Sandbox(cert_dir=tmp_path) as sandbox:
            env = {**sandbox_env(sandbox), ENV: server.url, "PYTHONWARNINGS": "always"}
            done = await asyncio.to_thread(
                run_process, ["send", "--to", "+6591234567", "--text", "hi"], env
            )
        assert done.returncode == 0, done.stderr
        assert "Unclosed" not in done.stderr
        assert "ResourceWarning" not in done.stderr
        assert done.stderr == ""
    finally:
        server.cleanup()


def test_rediss_with_the_ca_in_the_url_and_without(sandbox: Sandbox, tmp_path: Path) -> None:
    """rediss:// works with ?ssl_ca_certs=; without it the certificate failure names
    --redis-url, not the 8x8 host."""
    cert, key, ca = tls_files(tmp_path)
    server = RedisServer(tls=(cert, key, ca)).start()
    try:
        send = ["send", "--to", "+6591234567", "--text", "hi"]
        code, _, err = run(sandbox, *send, "--redis-url", f"{server.url}?ssl_ca_certs={ca}")
        assert code == 0, err
        assert bucket_keys_tls(server, ca) == [f"eightxeight:rl:{sandbox.subaccount_id}:sends"]
        code, _, err = run(sandbox, *send, "--redis-url", server.url)
        assert code == 5, err
        assert "--redis-url" in err
        assert "certificate" in err.lower()
        assert "The TLS certificate of" not in err  # not mistaken for 8x8's (or the sandbox's)
        assert len(sandbox.state.messages) == 1
    finally:
        server.cleanup()


def bucket_keys_tls(server: RedisServer, ca: Path) -> list[str]:
    import redis

    client = redis.Redis(port=server.port, ssl=True, ssl_ca_certs=str(ca), decode_responses=True)
    try:
        return sorted(str(k) for k in client.keys("eightxeight:rl:*"))
    finally:
        client.close()


def test_the_option_after_the_command_wins(sandbox: Sandbox, redis_server: RedisServer) -> None:
    """After the command beats before it, and both beat the variable (as the other options)."""
    bad = "http://nowhere"
    send = ["send", "--to", "+6591234567", "--text", "hi"]
    code, _, err = run(sandbox, "--redis-url", bad, *send, "--redis-url", redis_server.url)
    assert code == 0, err
    code, _, err = run(sandbox, *send, "--redis-url", redis_server.url, **{ENV: bad})
    assert code == 0, err
    code, _, err = run(sandbox, "--redis-url", redis_server.url, *send, **{ENV: bad})
    assert code == 0, err
    code, _, err = run(sandbox, "--redis-url", bad, *send, **{ENV: redis_server.url})
    assert code == 3
    assert "Invalid --redis-url" in err


def test_without_the_redis_package_the_option_names_the_extra(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 2 (the extra the command needs is missing), naming [redis]; nothing sent."""
    from eightxeight_async import _redis

    def missing() -> None:
        raise ImportError(_redis._INSTALL)

    monkeypatch.setattr(_redis, "_redis_modules", missing)
    send = ["send", "--to", "+6591234567", "--text", "hi"]
    code, _, err = run(sandbox, *send, "--redis-url", "redis://127.0.0.1:6379/0")
    assert code == 2, err
    assert "eightxeight-async[redis]" in err
    assert "--redis-url" in err
    assert not sandbox.state.messages
