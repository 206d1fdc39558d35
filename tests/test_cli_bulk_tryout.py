"""`eightxeight bulk`: an outside try-out's findings on its options and its failure wording.

Nothing here sends: each run ends before any request (the receipts themselves are tested against
the sandbox in tests/integration/test_cli_bulk_tryout.py).
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import pytest

from eightxeight_async._cli_bulk_receipts import ENV_AUTHORIZATION
from eightxeight_async._cli_bulk_run import _job_wording

from .test_cli_bulk_receipts import SECRET, bulk, csv_file  # noqa: F401 (a fixture)


@pytest.mark.parametrize("value", ["nan", "NaN", "-nan", "inf", "-1", "86401"])
def test_receipts_wait_refuses_what_is_not_a_finite_time(csv_file: Path, value: str) -> None:  # noqa: F811
    """nan used to pass click's FloatRange and wait forever; it is refused like inf."""
    code, _, err = bulk(
        csv_file,
        "--receipts-listen",
        "127.0.0.1:0",
        "--receipts-wait",
        value,
        **{ENV_AUTHORIZATION: SECRET},
    )
    assert code == 2, err
    assert "--receipts-wait" in err
    assert not Path(f"{csv_file}.journal").exists()


def _not_here() -> str:
    """An IPv4 address of the documentation range that this machine does not have."""
    for address in ("192.0.2.1", "198.51.100.7", "203.0.113.9"):
        with socket.socket() as probe:
            try:
                probe.bind((address, 0))
            except OSError as exc:
                if exc.errno == errno.EADDRNOTAVAIL:
                    return address
    pytest.skip("this machine has every documentation address")


def test_a_host_of_another_machine_exits_1_with_the_right_hint(csv_file: Path) -> None:  # noqa: F811
    """Not "Is another program using the port?": the address is not this machine's."""
    address = _not_here()
    code, out, err = bulk(
        csv_file, "--receipts-listen", f"{address}:18766", **{ENV_AUTHORIZATION: SECRET}
    )
    assert code == 1, err
    assert f"--receipts-listen {address}:18766: cannot listen there" in err
    assert "another program" not in err
    assert "HOST must be this machine's" in err
    assert out == ""
    assert not Path(f"{csv_file}.journal").exists()


def test_a_name_that_does_not_resolve_exits_1_with_the_same_hint(csv_file: Path) -> None:  # noqa: F811
    code, _, err = bulk(
        csv_file, "--receipts-listen", "no-such-host.invalid:8080", **{ENV_AUTHORIZATION: SECRET}
    )
    assert code == 1, err
    assert "HOST must be this machine's" in err


@pytest.mark.parametrize("host", ["ünï", "-bad", "a..b", "a_b", "x" * 64, "[1.2.3.4]"])
def test_a_host_no_address_or_name_looks_like_exits_2(csv_file: Path, host: str) -> None:  # noqa: F811
    """A malformed HOST is a wrong address (exit 2, as the README says), not a lookup."""
    code, _, err = bulk(
        csv_file, "--receipts-listen", f"{host}:18766", **{ENV_AUTHORIZATION: SECRET}
    )
    assert code == 2, err
    assert "--receipts-listen" in err
    assert "HOST:PORT" in err


COUNTS = {"accepted": 400, "rejected": 0, "invalid": 0, "unknown": 0, "pending": 2600}


def test_a_job_failure_after_accepted_rows_does_not_say_nothing_was_sent() -> None:
    message = _job_wording(
        "Could not connect to https://h:1 (ConnectError); nothing was sent.", COUNTS
    )
    assert "nothing was sent" not in message.lower()
    assert message == (
        "Could not connect to https://h:1 (ConnectError); the last request was not sent; the rows "
        "of earlier requests stand in the journal (400 accepted)."
    )


def test_the_job_wording_names_rejected_and_unknown_rows_too() -> None:
    counts = {**COUNTS, "rejected": 3, "unknown": 10}
    message = _job_wording("The TLS certificate of h is not trusted. Nothing was sent.", counts)
    assert message == (
        "The TLS certificate of h is not trusted. The last request was not sent; the rows of "
        "earlier requests stand in the journal (400 accepted, 3 rejected, 10 unknown)."
    )


def test_a_job_failure_before_any_row_was_sent_still_says_nothing_was_sent() -> None:
    counts = {**COUNTS, "accepted": 0, "invalid": 5}  # invalid rows are never sent
    text = "Could not connect to https://h:1 (ConnectError); nothing was sent."
    assert _job_wording(text, counts) == text


@pytest.mark.parametrize("given", [True, False], ids=["--journal", "default"])
def test_reconcile_with_no_journal_leaves_none_behind(csv_file: Path, given: bool) -> None:  # noqa: F811
    """A misspelt --journal used to be created (with its lock file) before "holds no job"."""
    path = csv_file.parent / "typo.journal"
    args = ["--reconcile", *(["--journal", str(path)] if given else [])]
    code, out, err = bulk(csv_file, *args)
    assert code == 2, err
    assert "There is no journal at " in err
    assert "--journal" in err
    assert out == ""
    assert sorted(p.name for p in csv_file.parent.iterdir()) == [csv_file.name]
