"""Helpers for the CLI's integration tests: a sandbox in its own thread, and CLI runs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from eightxeight_async._cli_app import cli
from eightxeight_async.sandbox import Sandbox

ENV_NAMES = (
    "EIGHTXEIGHT_API_KEY",
    "EIGHTXEIGHT_BASE_URL",
    "EIGHTXEIGHT_SUBACCOUNT_ID",
    "EIGHTXEIGHT_ACCOUNT_ID",
    "EIGHTXEIGHT_REDIS_URL",
    "EIGHTXEIGHT_CA_BUNDLE",
    "EIGHTXEIGHT_DEBUG",
    "EIGHTXEIGHT_WEBHOOK_AUTHORIZATION",
)


@contextlib.contextmanager
def sandbox_in_thread(cert_dir: Path, **kwargs: Any) -> Iterator[Sandbox]:
    """A sandbox serving from its own thread and loop, so that in-process CLI runs can call it."""
    sandbox = Sandbox(cert_dir=cert_dir, **kwargs)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    started = threading.Event()

    async def serve() -> None:
        async with sandbox:
            started.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),))
    thread.start()
    assert started.wait(30)
    try:
        yield sandbox
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()


def runner() -> CliRunner:
    """A CliRunner that keeps stderr apart on every supported click (8.1 mixes it in by default)."""
    old_click: dict[str, Any] = {"mix_stderr": False}
    try:
        return CliRunner(**old_click)
    except TypeError:  # click 8.2 removed the argument: stderr is always apart
        return CliRunner()


def sandbox_env(sandbox: Sandbox) -> dict[str, str]:
    """The environment `eightxeight sandbox` tells a user to export."""
    return {
        "EIGHTXEIGHT_API_KEY": sandbox.api_key,
        "EIGHTXEIGHT_BASE_URL": sandbox.base_url,
        "EIGHTXEIGHT_SUBACCOUNT_ID": sandbox.subaccount_id,
        "EIGHTXEIGHT_CA_BUNDLE": str(sandbox.ca_path),
    }


def clean_env(env: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    """This process's environment without the user's EIGHTXEIGHT_* settings, plus ``env``."""
    full = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    return {**full, **(env or {}), **extra}


def invoke(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run the command in this process; return (exit code, stdout, stderr)."""
    unset: dict[str, str | None] = dict.fromkeys(ENV_NAMES)
    result = runner().invoke(cli, args, env={**unset, **(env or {})})
    return result.exit_code, result.stdout, result.stderr


def run_process(
    args: list[str], env: dict[str, str] | None = None, *, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `python -m eightxeight_async ARGS` with its output in pipes."""
    return subprocess.run(
        [sys.executable, "-m", "eightxeight_async", *args],
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def ctrl_c_twice(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Ctrl-C a running `eightxeight bulk`, wait for its "Stopping:" line, Ctrl-C it again.

    Returns its ``(stdout, stderr)``, the stderr from after the "Stopping:" line.
    """
    process.send_signal(signal.SIGINT)
    assert process.stderr is not None
    for line in process.stderr:  # the first Ctrl-C is taken: send the second
        if line.startswith("Stopping:"):
            break
    process.send_signal(signal.SIGINT)
    return process.communicate(timeout=60)
