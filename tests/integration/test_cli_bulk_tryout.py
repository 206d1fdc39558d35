"""`eightxeight bulk` against a real sandbox: an outside try-out's findings.

- Receipts posted with a wrong Authorization are refused (401): the command says so at the first
  refusal and in its summary (and --json), instead of waiting in silence for receipts that never
  come.
- A connection failure after rows were accepted no longer ends with "nothing was sent".
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from eightxeight_async._cli_bulk_receipts import ENV_AUTHORIZATION
from eightxeight_async.sandbox import Sandbox

from .cli_support import clean_env, invoke, sandbox_env, sandbox_in_thread
from .test_cli_bulk_receipts import SECRET, free_port, point_webhook

pytestmark = pytest.mark.integration

WRONG = "Basic d3Jvbmctc2VjcmV0"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with sandbox_in_thread(
        tmp_path / "ca", sent_after=0.05, delivered_after=0.1, dlr_retry_scale=0.001
    ) as server:
        yield server


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
def test_receipts_refused_for_their_authorization_are_reported(
    sandbox: Sandbox, tmp_path: Path, as_json: bool
) -> None:
    """A warning at the first 401, then a summary line naming the fix; no receipt recorded."""
    port = free_port()
    point_webhook(sandbox, f"http://127.0.0.1:{port}/")  # 8x8 sends SECRET
    data = tmp_path / "rows.csv"
    data.write_text("phone,text\n+6591000001,a\n+6591000002,b\n+6591000003,c\n")
    env = clean_env({**sandbox_env(sandbox), ENV_AUTHORIZATION: WRONG})
    args = ["--json"] if as_json else []
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "eightxeight_async",
            *args,
            "bulk",
            str(data),
            "--receipts-listen",
            f"127.0.0.1:{port}",
            "--receipts-wait",
            "600",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Without the warning, the wait would last its 600 s: stopped after 60 s, then fails below.
    fallback = threading.Timer(60, process.send_signal, (signal.SIGINT,))
    fallback.start()
    try:
        assert process.stderr is not None
        seen = []
        for line in process.stderr:
            seen.append(line)
            if line.startswith("Warning: the receiver refused a post with 401"):
                break
        # A post with the receiver's own value but a body that is no webhook: 400, counted too.
        garbage = httpx.post(
            f"http://127.0.0.1:{port}/", content=b"garbage", headers={"Authorization": WRONG}
        )
        assert garbage.status_code == 400
        process.send_signal(signal.SIGINT)  # ends the wait, which would never end by itself
        out, err = process.communicate(timeout=60)
    finally:
        fallback.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    err = "".join(seen) + err
    assert process.returncode == 0, err
    assert "Traceback" not in out + err
    assert WRONG not in out + err
    assert SECRET not in out + err
    assert (
        "Warning: the receiver refused a post with 401 (wrong Authorization); check "
        f"--receipts-authorization / {ENV_AUTHORIZATION} against the webhook's "
        "http_authorization." in err
    )
    # 401 until the command stopped, then no answer at all (None): never a 200.
    assert 401 in {status for _, _, status in sandbox.state.dlr_attempts}
    assert 200 not in {status for _, _, status in sandbox.state.dlr_attempts}
    if as_json:
        receipts = json.loads(out)["receipts"]
        assert receipts["received"] == 0
        assert receipts["refused_unauthorized"] >= 1
        assert receipts["answers"] == {"400": 1, "401": receipts["refused_unauthorized"]}
    else:
        line = next(x for x in out.splitlines() if x.strip().startswith("refused"))
        assert "refused: wrong Authorization; check --receipts-authorization / " in line
        assert f"{ENV_AUTHORIZATION} against the webhook's http_authorization" in line
        assert "receipts  0 received" in out
        assert "refused   1 post refused with 400: not an 8x8 webhook body" in out


class OneAnswer:
    """A TCP forwarder to the sandbox that lets one batch through, then refuses connections.

    The sandbox's answer to the first batch request is gathered whole, the listener closed,
    then the answer passed on with the connection's end right behind it: the client's next
    request finds its connection closed and can open no other. The job then ends on a
    connection failure of a request that was never sent, after rows were accepted.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._upstream_port = int(sandbox.base_url.rstrip("/").rpartition(":")[2])
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            client, _ = self._listener.accept()
            upstream = socket.create_connection(("127.0.0.1", self._upstream_port))
            self._sockets += [client, upstream]
            for source, target, last in ((client, upstream, False), (upstream, client, True)):
                pump = threading.Thread(target=self._pump, args=(source, target, last), daemon=True)
                self._threads.append(pump)
                pump.start()

    def _pump(self, source: socket.socket, target: socket.socket, last: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if last and self._sandbox.state.messages:  # the first batch's answer
                    source.settimeout(0.5)  # the sandbox writes an answer at once: the rest
                    with contextlib.suppress(TimeoutError, OSError):
                        while more := source.recv(65536):
                            data += more
                    self._listener.close()
                    target.sendall(data)
                    target.shutdown(socket.SHUT_RDWR)
                    return
                target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(10)


def test_a_connection_failure_after_accepted_rows_does_not_say_nothing_was_sent(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    data = tmp_path / "rows.csv"
    data.write_text("phone,text\n" + "".join(f"+65910000{n:02d},r{n}\n" for n in range(20)))
    forwarder = OneAnswer(sandbox)
    try:
        env = {
            **sandbox_env(sandbox),
            "EIGHTXEIGHT_BASE_URL": f"https://127.0.0.1:{forwarder.port}",
        }
        code, out, err = invoke(
            ["bulk", str(data), "--chunk-size", "5", "--concurrency", "1", "--quiet"], env
        )
    finally:
        forwarder.close()
    assert "Traceback" not in out + err
    assert code == 5, out + err
    assert "accepted  5" in out
    assert "nothing was sent" not in err.lower()
    assert (
        "the last request was not sent; the rows of earlier requests stand in the journal "
        "(5 accepted)." in err
    )
    assert "Resume with: " in err
