"""`eightxeight bulk --receipts-listen`: every wrong input gets a message naming its option.

Nothing here sends: each run ends before any request. The receiving itself is tested against the
sandbox in tests/integration/test_cli_bulk_receipts.py.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from eightxeight_async._cli_app import cli
from eightxeight_async._cli_bulk_receipts import ENV_AUTHORIZATION, parse_listen

from .integration.cli_support import ENV_NAMES, runner
from .test_cli_bulk import SETTINGS, invoke

SECRET = "Basic c2VjcmV0LXZhbHVlLTEyMw=="


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    path.write_text("to,text\n+6591234567,Hello\n")
    return path


def bulk(csv_file: Path, *args: str, **env: str) -> tuple[int, str, str]:
    """Run the command; the Authorization variable is unset unless ``env`` sets it."""
    unset: dict[str, str | None] = dict.fromkeys([*ENV_NAMES, ENV_AUTHORIZATION])
    result = runner().invoke(cli, [*SETTINGS, "bulk", str(csv_file), *args], env={**unset, **env})
    out, err = result.stdout, result.stderr
    assert "Traceback" not in out + err
    assert SECRET not in out + err
    return result.exit_code, out, err


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        ("localhost:9000", ("localhost", 9000)),
        ("[::1]:8443", ("::1", 8443)),
        (" 127.0.0.1:80 ", ("127.0.0.1", 80)),
    ],
)
def test_listen_addresses_are_read(value: str, expected: tuple[str, int]) -> None:
    assert parse_listen(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "8080",
        "127.0.0.1",
        "127.0.0.1:",
        ":8080",
        "host:65536",
        "host:-1",
        "host:８０",
        "::1:8080",
        "[nothost]:80",
        "a b:80",
        "[::1]",
    ],
)
def test_a_malformed_listen_address_is_refused_naming_the_option(
    csv_file: Path, value: str
) -> None:
    code, _, err = bulk(csv_file, "--receipts-listen", value, **{ENV_AUTHORIZATION: SECRET})
    assert code == 2, err
    assert "--receipts-listen" in err
    assert "HOST:PORT" in err
    assert not Path(f"{csv_file}.journal").exists()


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--receipts-wait", "5"], "--receipts-wait works only with --receipts-listen"),
        (
            ["--receipts-authorization", SECRET],
            "--receipts-authorization works only with --receipts-listen",
        ),
        (
            ["--receipts-listen", "127.0.0.1:0", "--dry-run", "--receipts-authorization", SECRET],
            "--receipts-listen does not go with --dry-run",
        ),
        (["--receipts-listen", "127.0.0.1:0"], ENV_AUTHORIZATION),
        (["--receipts-listen", "127.0.0.1:0", "--receipts-wait", "-1"], "--receipts-wait"),
    ],
)
def test_receipt_options_used_wrongly_are_usage_errors(
    csv_file: Path, args: list[str], names: str
) -> None:
    code, _, err = bulk(csv_file, *args)
    assert code == 2, err
    assert names in err
    assert not Path(f"{csv_file}.journal").exists()


@pytest.mark.parametrize("value", ["   ", "Bearer caf\u00e9", "Basic a\nb"])
def test_a_bad_authorization_is_refused_without_echoing_it(csv_file: Path, value: str) -> None:
    code, _, err = bulk(csv_file, "--receipts-listen", "127.0.0.1:0", **{ENV_AUTHORIZATION: value})
    assert code == 2, err
    assert ENV_AUTHORIZATION in err  # the option it came from: the environment
    if value.strip():
        assert value not in err
    code, _, err = bulk(
        csv_file, "--receipts-listen", "127.0.0.1:0", "--receipts-authorization", value
    )
    assert code == 2, err
    assert "--receipts-authorization" in err


def test_a_port_in_use_ends_the_command_before_anything_is_made(csv_file: Path) -> None:
    """Exit 1, naming the option and the address; no journal, nothing sent."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, out, err = bulk(
            csv_file, "--receipts-listen", f"127.0.0.1:{port}", **{ENV_AUTHORIZATION: SECRET}
        )
    assert code == 1, err
    assert f"--receipts-listen 127.0.0.1:{port}: cannot listen there" in err
    assert "Nothing was sent." in err
    assert out == ""
    assert not Path(f"{csv_file}.journal").exists()


def test_a_host_that_cannot_be_resolved_is_refused(csv_file: Path) -> None:
    code, _, err = bulk(
        csv_file, "--receipts-listen", "no-such-host.invalid:8080", **{ENV_AUTHORIZATION: SECRET}
    )
    assert code == 1, err
    assert "--receipts-listen no-such-host.invalid:8080: cannot listen there" in err


def test_without_uvicorn_the_option_says_what_to_install(
    csv_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    code, _, err = bulk(csv_file, "--receipts-listen", "127.0.0.1:0", **{ENV_AUTHORIZATION: SECRET})
    assert code == 1, err
    assert "--receipts-listen needs uvicorn" in err
    assert "eightxeight-async[sandbox]" in err


def test_help_lists_the_receipt_options() -> None:
    code, out, _ = invoke("bulk", "--help")
    assert code == 0
    for name in ("--receipts-listen", "--receipts-authorization", "--receipts-wait"):
        assert name in out
    assert ENV_AUTHORIZATION in out
