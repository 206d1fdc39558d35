"""The outside tryout's findings on the examples: exit codes, the journal's place, the secret.

The worker runs as its README's command, in a process of its own; 8x8 is a 127.0.0.1 port that
refuses connections (bound by the test, never listening), so that nothing is ever sent.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .test_examples import AUTHORIZATION, ROOT, run_example
from .test_examples_tryout import WORKER, worker_environment


def _refusing_environment(port: int) -> dict[str, str]:
    return {**worker_environment(), "EIGHTXEIGHT_BASE_URL": f"https://127.0.0.1:{port}"}


async def test_worker_that_cannot_reach_8x8_exits_3_and_says_how_to_resume(
    tmp_path: Path,
) -> None:
    """Nothing was sent, no row is UNKNOWN: exit 3 (before: 1, documented as "rows UNKNOWN")."""
    with socket.socket() as refusing:  # bound, not listening: every connect is refused
        refusing.bind(("127.0.0.1", 0))
        environment = _refusing_environment(refusing.getsockname()[1])
        journal = tmp_path / "h.journal"
        args = [WORKER, "--generate", "10", "--journal", str(journal)]
        code, out, err = await run_example(args, environment)
        print(f"$ python {' '.join(args)}   (exit {code})\n{out}{err}")
        assert code == 3
        assert "queue worker stopped: Could not connect" in err
        assert "No row has an unknown outcome" in err
        assert "--reconcile" not in err
        resume = re.search(r"To send the rest: python (.*)$", err, flags=re.MULTILINE)
        assert resume is not None
        assert "--job-id" in resume.group(1)
        assert "Traceback" not in err
        # The same command again stops the same way: the rows wait in the journal, unsent.
        again, _, err2 = await run_example(resume.group(1).split(" "), environment)
        assert again == 3
        assert "No row has an unknown outcome" in err2


def test_worker_help_names_the_default_journal_place() -> None:
    out = subprocess.run(
        [sys.executable, WORKER, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    flat = " ".join(out.split())
    assert "queue-worker.journal in the current directory" in flat
    assert "queue-worker.journal-lock" in flat


@pytest.mark.parametrize("name", ["queue-worker.journal", "queue-worker.journal-lock"])
def test_the_default_journal_is_ignored_by_git(name: str) -> None:
    """A worker run from the repository's root leaves nothing for `git add -A` to pick up."""
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "--no-index", name], cwd=ROOT, check=False, timeout=60
    )
    assert ignored.returncode == 0


@pytest.mark.parametrize("value", ["   ", " " + AUTHORIZATION, AUTHORIZATION + " "])
async def test_worker_refuses_a_blank_or_padded_webhook_authorization(
    value: str, tmp_path: Path
) -> None:
    """The receiver refuses such a value; the worker names the variable before starting."""
    environment = {**worker_environment(), "WORKER_WEBHOOK_AUTHORIZATION": value}
    args = [WORKER, "--generate", "5", "--journal", str(tmp_path / "j"), "--listen", "127.0.0.1:0"]
    code, _, err = await run_example(args, environment)
    assert code == 2
    assert "WORKER_WEBHOOK_AUTHORIZATION must not start or end with a space" in err
    assert AUTHORIZATION not in err
    assert "Traceback" not in err


@pytest.mark.parametrize("value", [" " + AUTHORIZATION, AUTHORIZATION + " "])
def test_otp_settings_refuse_a_padded_authorization(value: str) -> None:
    from examples.otp_core import ConfigError, OtpSettings

    environ = {
        "EIGHTXEIGHT_API_KEY": "k",
        "EIGHTXEIGHT_SUBACCOUNT_ID": "s",
        "OTP_WEBHOOK_AUTHORIZATION": value,
    }
    with pytest.raises(ConfigError, match="must not start or end with a space") as caught:
        OtpSettings.from_env(environ)
    assert AUTHORIZATION not in str(caught.value)
