"""The `eightxeight` command against a running sandbox, and the demo, as a user runs them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eightxeight_async.sandbox import Sandbox

pytestmark = pytest.mark.integration


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run `python -m eightxeight_async ARGS`; return (exit code, stdout, stderr)."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    for name in ("EIGHTXEIGHT_API_KEY", "EIGHTXEIGHT_BASE_URL", "EIGHTXEIGHT_SUBACCOUNT_ID"):
        if env is None or name not in env:
            full_env.pop(name, None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "eightxeight_async",
        *args,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def sandbox_env(sandbox: Sandbox) -> dict[str, str]:
    return {
        "EIGHTXEIGHT_API_KEY": sandbox.api_key,
        "EIGHTXEIGHT_BASE_URL": sandbox.base_url,
        "EIGHTXEIGHT_SUBACCOUNT_ID": sandbox.subaccount_id,
        "EIGHTXEIGHT_CA_BUNDLE": str(sandbox.ca_path),
    }


async def test_demo_runs_end_to_end() -> None:
    """`eightxeight demo` exits 0 after delivery and feedback, with the journey printed."""
    code, out, err = await run_cli("demo", "--delivered-after", "0.5")
    assert code == 0, err
    assert "delivered / delivered_to_recipient" in out
    assert "send_feedback" in out
    assert "SendOutcomeUnknownError" in out


async def test_send_status_feedback_commands(sandbox: Sandbox) -> None:
    """send --json, status --wait --json and feedback work with the environment settings."""
    env = sandbox_env(sandbox)
    code, out, err = await run_cli(
        "--json",
        "send",
        "--to",
        "+6591234567",
        "--text",
        "Code 1234",
        "--track",
        "Outcome",
        env=env,
    )
    assert code == 0, err
    sent = json.loads(out)
    assert sent["status"]["code"] == "QUEUED"
    code, out, err = await run_cli("--json", "status", sent["umid"], "--wait", env=env)
    assert code == 0, err
    assert json.loads(out)["status"]["state"] == "delivered"
    code, out, err = await run_cli("feedback", sent["umid"], "success", env=env)
    assert code == 0, err
    assert "accepted" in out
    assert sandbox.state.messages[sent["umid"]].feedback


async def test_survey_command(sandbox: Sandbox) -> None:
    """survey sends a template with variables."""
    code, out, err = await run_cli(
        "survey",
        "nps",
        "--to",
        "+6591234567",
        "--template",
        "Hi {{name}}: {{url:}}",
        "--var",
        "name=Ana",
        env=sandbox_env(sandbox),
    )
    assert code == 0, err
    assert "QUEUED" in out


@pytest.mark.parametrize(
    ("args", "override", "expected"),
    [
        pytest.param(["send", "--to", "12", "--text", "x"], {}, 3, id="validation"),
        pytest.param(
            ["send", "--to", "+6591234567", "--text", "x"],
            {"EIGHTXEIGHT_API_KEY": "bad"},
            4,
            id="api",
        ),
        pytest.param(["send", "--to", "+15550100003", "--text", "x"], {}, 4, id="rejected"),
        pytest.param(["status", "dec02e44-c76f-4a0a-b69f-6ac2a4386eb9"], {}, 4, id="not-found"),
    ],
)
async def test_exit_codes(
    sandbox: Sandbox, args: list[str], override: dict[str, str], expected: int
) -> None:
    """Validation, API and rejection failures have their own exit codes and one stderr line."""
    code, _, err = await run_cli(*args, env={**sandbox_env(sandbox), **override})
    assert code == expected
    assert err.startswith("error:")
    assert "+6591234567" not in err


async def test_connection_error_exit_code(tmp_path: Path) -> None:
    """Nothing listening: exit code 5."""
    async with Sandbox(cert_dir=tmp_path) as server:
        env = sandbox_env(server)
    code, _, err = await run_cli("status", "dec02e44-c76f-4a0a-b69f-6ac2a4386eb9", env=env)
    assert code == 5
    assert "nothing was sent" in err
