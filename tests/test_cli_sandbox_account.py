"""`eightxeight sandbox`: the account options reach the sandbox, and its account is announced."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from eightxeight_async import _cli_options
from eightxeight_async import sandbox as sandbox_module
from eightxeight_async._cli_app import cli
from eightxeight_async._cli_sandbox import _announce
from eightxeight_async.sandbox import Sandbox
from tests.isolated_loop import run_isolated

ACCOUNT = "0123456789abcdef0123456789abcdef"


def invoke(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, args, env={"EIGHTXEIGHT_ACCOUNT_ID": None})
    return result.exit_code, result.output


def test_account_options_reach_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """--account-id, --start-balance and --postpaid are passed on (stopped at start)."""
    seen: dict[str, Any] = {}

    class Recording(Sandbox):
        def __init__(self, **kwargs: Any) -> None:
            seen.update(kwargs)
            super().__init__(**kwargs)

        async def start(self) -> None:
            raise OSError(98, "Address already in use")

    monkeypatch.setattr(sandbox_module, "Sandbox", Recording)
    # The command's asyncio.run() runs in a thread of its own (see tests/isolated_loop.py).
    monkeypatch.setattr(_cli_options, "run_async", run_isolated)
    args = ["sandbox", "--account-id", ACCOUNT, "--start-balance", "12.50", "--postpaid"]
    code, output = invoke(args)
    assert code == 1, output
    assert (seen["account_id"], seen["start_balance"], seen["postpaid"]) == (ACCOUNT, "12.50", True)
    code, _ = invoke(["sandbox"])
    assert (seen["account_id"], seen["start_balance"], seen["postpaid"]) == (None, "100", False)


@pytest.mark.parametrize(
    ("args", "option"),
    [
        pytest.param(["--account-id", "not-a-guid"], "--account-id", id="account"),
        pytest.param(["--start-balance", "lots"], "--start-balance", id="balance"),
    ],
)
def test_bad_account_options_are_usage_errors(args: list[str], option: str) -> None:
    """A bad account id or balance stops the command before the sandbox starts (exit 2)."""
    code, output = invoke(["sandbox", *args])
    assert code == 2
    assert option in output


def _server() -> Any:
    return SimpleNamespace(
        port=8443,
        api_key="k",
        subaccount_id="acme_hq",
        account_id=ACCOUNT,
        ca_path=Path("/tmp/ca.pem"),
        tls12_only=False,
    )


def _options(**extra: Any) -> dict[str, Any]:
    base = {
        "sent_after": 1.0,
        "delivered_after": 2.0,
        "dlr_retry_scale": 0.01,
        "fail_429": 0.0,
        "fail_500": 0.0,
        "slow": 0.0,
        "slow_seconds": 2.0,
        "drop": 0.0,
        "seed": None,
        "start_balance": "100",
        "postpaid": False,
    }
    return {**base, **extra}


def test_announcement_exports_the_account(capsys: pytest.CaptureFixture[str]) -> None:
    """The export lines include EIGHTXEIGHT_ACCOUNT_ID, and a line says what the account is."""
    _announce(_server(), "127.0.0.1", False, _options())
    out = capsys.readouterr().out
    assert f"export EIGHTXEIGHT_ACCOUNT_ID={ACCOUNT}" in out
    assert f"Account {ACCOUNT}: prepaid, balance 100 EUR." in out
    _announce(_server(), "127.0.0.1", False, _options(postpaid=True))
    assert f"Account {ACCOUNT}: post-paid." in capsys.readouterr().out


def test_json_announcement_carries_the_account(capsys: pytest.CaptureFixture[str]) -> None:
    """The --json document has the variable and the account's settings, on one line."""
    _announce(_server(), "127.0.0.1", True, _options(start_balance="7", postpaid=True))
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    document = json.loads(out)
    assert document["EIGHTXEIGHT_ACCOUNT_ID"] == ACCOUNT
    assert (document["account_id"], document["start_balance"], document["postpaid"]) == (
        ACCOUNT,
        "7",
        True,
    )
    assert list(document)[:5] == [
        "EIGHTXEIGHT_BASE_URL",
        "EIGHTXEIGHT_API_KEY",
        "EIGHTXEIGHT_SUBACCOUNT_ID",
        "EIGHTXEIGHT_ACCOUNT_ID",
        "EIGHTXEIGHT_CA_BUNDLE",
    ]
