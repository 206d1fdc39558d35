"""The testing helpers as an outside user met them: no real waiting on the client's own rate
limits, time that moves a DeliveryTracker, async handlers finished at the end, a closed mock
that says so, and clear errors (trio, a missing extra, bad fixture options).

No socket is opened: every request goes through the mock's transport.
"""

from __future__ import annotations

import asyncio
import gc
import re
import subprocess
import sys
import textwrap
import warnings
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

import eightxeight_async as e
from eightxeight_async import AsyncSmsClient
from eightxeight_async.testing import SmsMock, retry_without_waiting
from eightxeight_async.tracking import DeliveryTimeoutError, DeliveryTracker
from eightxeight_async.webhooks import WebhookEvent

from .virtual_time import run_virtual

pytest_plugins = ["pytester"]

PHONE = "+6591234567"
README = Path(__file__).parents[1] / "README.md"


@pytest.fixture
async def mock() -> AsyncIterator[SmsMock]:
    async with SmsMock() as sms_mock:
        with retry_without_waiting(skip_rate_limiter=True):
            yield sms_mock


async def _until(condition: Callable[[], bool], turns: int = 10_000) -> None:
    """Let the loop run until ``condition`` holds: a count of turns, never a clock."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


# --- 1. the client's own rate limiter does not wait in the no-backoff mode ---------------------


def test_get_message_calls_skip_the_details_bucket_waits() -> None:
    """Five get_message calls: 8x8's 1 request/s per subaccount is the client's own bucket; the
    four waits it asks for are recorded, and no time passes (on a virtual-time loop, where a
    real wait would move the loop's clock by 4 s)."""

    async def main() -> tuple[float, list[float], list[float]]:
        async with SmsMock() as sms_mock, sms_mock.client() as client:
            sent = await client.send_sms(destination=PHONE, text="hi")
            loop = asyncio.get_running_loop()
            with retry_without_waiting(skip_rate_limiter=True) as retries:
                start = loop.time()
                for _ in range(5):
                    await client.get_message(sent.umid)
                elapsed = loop.time() - start
                return elapsed, list(sms_mock.limiter_waits), list(retries)

    elapsed, limiter, retries = run_virtual(main)
    assert elapsed < 0.5
    assert limiter == pytest.approx([1.0] * 4, abs=0.01)
    assert retries == []


def test_concurrent_calls_keep_their_order_and_count() -> None:
    """Three get_message calls at once: tokens go out in arrival order, each one interval after
    the last, as if the time had passed; nothing sleeps."""

    async def main() -> tuple[float, list[float], list[str]]:
        async with SmsMock() as sms_mock, sms_mock.client() as client:
            umids = [(await client.send_sms(destination=PHONE, text=str(i))).umid for i in range(3)]
            loop = asyncio.get_running_loop()
            with retry_without_waiting(skip_rate_limiter=True):
                start = loop.time()
                await asyncio.gather(*(client.get_message(u) for u in umids))
                elapsed = loop.time() - start
                paths = [r.path for r in sms_mock.requests_for("get_message")]
                return elapsed, list(sms_mock.limiter_waits), paths

    elapsed, limiter, paths = run_virtual(main)
    assert elapsed < 0.5
    assert limiter == pytest.approx([1.0, 1.0], abs=0.01)
    assert len(paths) == 3
    assert len(set(paths)) == 3


def test_retries_of_get_message_skip_the_bucket_too() -> None:
    """fail("get_message", ..., times=50): four attempts, three backoffs and three bucket
    waits, all recorded and none slept."""

    async def main() -> tuple[float, list[float], list[float]]:
        async with SmsMock() as sms_mock, sms_mock.client() as client:
            sent = await client.send_sms(destination=PHONE, text="hi")
            sms_mock.fail("get_message", "server_error", times=50)
            loop = asyncio.get_running_loop()
            with retry_without_waiting(skip_rate_limiter=True) as retries:
                start = loop.time()
                with pytest.raises(e.InternalServerError):
                    await client.get_message(sent.umid)
                return loop.time() - start, list(sms_mock.limiter_waits), list(retries)

    elapsed, limiter, retries = run_virtual(main)
    assert elapsed < 0.5
    assert len(retries) == 3
    assert len(limiter) == 3


def test_the_limiter_waits_for_real_outside_the_mode() -> None:
    """Without the no-backoff mode the bucket still holds callers (here, virtual) seconds."""

    async def main() -> float:
        async with SmsMock() as sms_mock, sms_mock.client() as client:
            sent = await client.send_sms(destination=PHONE, text="hi")
            loop = asyncio.get_running_loop()
            start = loop.time()
            for _ in range(3):
                await client.get_message(sent.umid)
            return loop.time() - start

    assert run_virtual(main) == pytest.approx(2.0, abs=0.05)


# --- 1. advance() moves a DeliveryTracker's time ----------------------------------------------


async def test_advance_times_out_a_trackers_wait() -> None:
    """A wait's timeout counts the mock's advanced seconds: no sleeping for a late receipt."""
    async with (
        SmsMock(delivered_after=3600) as sms_mock,
        sms_mock.client() as client,
        DeliveryTracker() as tracker,
    ):
        sms_mock.deliver_to(tracker)
        sent = await client.send_sms(destination=PHONE, text="hi")
        waiter = asyncio.ensure_future(tracker.wait(sent.umid, timeout=30))
        await asyncio.sleep(0)  # the wait starts (and its timeout with it)
        await sms_mock.advance(29)
        await asyncio.sleep(0)
        assert not waiter.done()
        await sms_mock.advance(1)
        await _until(waiter.done)
        with pytest.raises(DeliveryTimeoutError) as info:
            await waiter
        assert info.value.umid == sent.umid


async def test_advance_reaches_the_trackers_poll_then_the_receipt() -> None:
    """poll_after counts the advanced seconds: the late message is looked up (still "sent"),
    then its receipt ends the wait."""
    async with (
        SmsMock(delivered_after=3600) as sms_mock,
        sms_mock.client() as client,
        DeliveryTracker(client, poll_after=60, poll_every=600) as tracker,
    ):
        with retry_without_waiting():
            sms_mock.deliver_to(tracker)
            sent = await client.send_sms(destination=PHONE, text="hi")
            tracker.track(sent.umid)
            waiter = asyncio.ensure_future(tracker.wait(sent.umid, timeout=7200))
            await asyncio.sleep(0)
            await sms_mock.advance(59)
            for _ in range(20):
                await asyncio.sleep(0)
            assert sms_mock.requests_for("get_message") == []
            await sms_mock.advance(1)
            await _until(lambda: len(sms_mock.requests_for("get_message")) == 1)
            assert not waiter.done()
            await sms_mock.advance(3600)
            await _until(waiter.done)
            delivery = await waiter
    assert delivery.delivered
    assert delivery.via == "receipt"


async def test_a_tracker_still_times_out_in_real_time() -> None:
    """The advanced seconds add to the real ones: a short timeout ends without advance()."""
    async with SmsMock(delivered_after=3600) as sms_mock, DeliveryTracker() as tracker:
        sms_mock.deliver_to(tracker)
        with pytest.raises(DeliveryTimeoutError):
            await tracker.wait("a" * 32, timeout=0.01)


# --- 3. async handlers are finished, never lost -----------------------------------------------


def test_async_with_exit_waits_for_an_async_handler() -> None:
    done: list[str] = []

    async def handler(event: WebhookEvent) -> None:
        await asyncio.sleep(0)
        done.append(type(event).__name__)

    async def main() -> None:
        async with SmsMock() as sms_mock, sms_mock.client() as client:
            sms_mock.deliver_to(handler)
            await client.send_sms(destination=PHONE, text="hi")

    asyncio.run(main())
    assert done == ["DeliveryReceipt"]


def test_async_with_exit_raises_an_async_handlers_error() -> None:
    async def handler(event: WebhookEvent) -> None:
        await asyncio.sleep(0)
        raise KeyError("handler bug")

    async def main() -> None:
        async with SmsMock() as sms_mock:
            client = sms_mock.client()
            sms_mock.deliver_to(handler)
            await client.send_sms(destination=PHONE, text="hi")

    with pytest.raises(KeyError, match="handler bug"):
        asyncio.run(main())


def test_the_block_error_wins_and_the_handler_error_is_kept() -> None:
    async def handler(event: WebhookEvent) -> None:
        raise KeyError("handler bug")

    sms_mock = SmsMock()

    async def main() -> None:
        async with sms_mock:
            sms_mock.deliver_to(handler)
            await sms_mock.client().send_sms(destination=PHONE, text="hi")
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        asyncio.run(main())
    with pytest.raises(KeyError, match="handler bug"):
        sms_mock.raise_handler_errors()


def test_a_handler_left_pending_never_warns_never_awaited() -> None:
    """A script that never closes the mock: asyncio.run cancels the handler's task before it
    starts; its coroutine is closed (no "never awaited"), and the loss is reported."""

    async def handler(event: WebhookEvent) -> None:  # pragma: no cover - never runs
        raise AssertionError

    async def main() -> SmsMock:
        sms_mock = SmsMock()
        sms_mock.deliver_to(handler)
        await sms_mock.client().send_sms(destination=PHONE, text="hi")
        return sms_mock

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sms_mock = asyncio.run(main())
        gc.collect()
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []
    with pytest.raises(RuntimeError, match="did not finish"):
        sms_mock.raise_handler_errors()


_PLUGIN = "eightxeight_async_pytest"


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    from importlib.metadata import entry_points

    installed = any(ep.value == _PLUGIN for ep in entry_points(group="pytest11"))
    pytester.makeini(
        """
        [pytest]
        filterwarnings = error
        asyncio_default_fixture_loop_scope = function
        """
    )
    plugin = [] if installed else ["-p", _PLUGIN]
    return pytester.runpytest_subprocess(*plugin, "-p", "no:cacheprovider", *args)


def test_the_fixture_finishes_an_async_handler(pytester: pytest.Pytester) -> None:
    """A correct test that ends without advance(): the handler runs before the loop closes,
    and nothing warns, under filterwarnings = error."""
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        SEEN = []

        async def handler(event):
            await asyncio.sleep(0)
            SEEN.append(event.umid)

        @pytest.mark.asyncio
        async def test_send(sms_mock, sms_client):
            sms_mock.deliver_to(handler)
            await sms_client.send_sms(destination="+6591234567", text="hi")

        @pytest.mark.asyncio(loop_scope="module")
        async def test_send_on_a_module_loop(sms_mock, sms_client):
            sms_mock.deliver_to(handler)
            await sms_client.send_sms(destination="+6591234567", text="hi")

        def test_both_handlers_ran():
            assert len(SEEN) == 2
        """
    )
    _run(pytester).assert_outcomes(passed=3)


def test_the_fixture_reports_an_async_handlers_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        async def handler(event):
            raise KeyError("async handler bug")

        @pytest.mark.asyncio
        async def test_send(sms_mock, sms_client):
            sms_mock.deliver_to(handler)
            await sms_client.send_sms(destination="+6591234567", text="hi")
        """
    )
    result = _run(pytester)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*KeyError: 'async handler bug'*"])
    assert "never awaited" not in result.stdout.str()


def test_the_fixtures_skip_the_limiter_waits(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_polls(sms_mock, sms_client):
            sent = await sms_client.send_sms(destination="+6591234567", text="hi")
            for _ in range(5):
                await sms_client.get_message(sent.umid)
            assert [round(w) for w in sms_mock.limiter_waits] == [1, 1, 1, 1]
            assert sms_mock.retry_waits == []
        """
    )
    _run(pytester).assert_outcomes(passed=1)


@pytest.mark.parametrize("value", ["None", "[('delivered_after', 60)]"])
def test_bad_sms_mock_options_name_the_fixture(pytester: pytest.Pytester, value: str) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.fixture
        def sms_mock_options():
            return {value}

        def test_it(sms_mock):
            pass
        """
    )
    result = _run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*The sms_mock_options fixture must return a dict*"])


# --- 4. retry_waits is the mode's, shown by every mock ----------------------------------------


async def test_retry_waits_are_the_modes_not_one_mocks(mock: SmsMock) -> None:
    """Documented: the no-backoff mode covers the process; two mocks show the same list."""
    other = SmsMock()
    other.fail("send_sms", "rate_limit", retry_after=3)
    async with other, other.client() as client:
        await client.send_sms(destination=PHONE, text="hi")
    assert other.retry_waits == [3.0]
    assert mock.retry_waits is other.retry_waits
    assert SmsMock().retry_waits is mock.retry_waits


def test_retry_waits_are_empty_outside_the_mode() -> None:
    assert SmsMock().retry_waits == []
    assert SmsMock().limiter_waits == []


# --- 5. requests_for checks the name as fail() does --------------------------------------------


def test_requests_for_refuses_an_unknown_operation() -> None:
    sms_mock = SmsMock()
    with pytest.raises(e.ValidationError) as info:
        sms_mock.requests_for("send_smss")
    assert info.value.field == "operation"
    assert sms_mock.requests_for("unknown") == []
    assert sms_mock.requests_for("download_log_export") == []


# --- 6. the README's recipe for a client of your own -------------------------------------------


async def test_the_readme_recipe_for_your_own_client_works(mock: SmsMock) -> None:
    section = README.read_text(encoding="utf-8").split("### Testing your own code", 1)[1]
    (recipe,) = re.findall(r"`(AsyncSmsClient\(api_key=sms_mock[^`]*\))`", section)
    client = eval(recipe, {"AsyncSmsClient": AsyncSmsClient, "sms_mock": mock})
    async with client:
        assert (await client.get_balance()).balance > 0
        await client.send_sms(destination=PHONE, text="hi")


# --- 7. a closed mock says so ------------------------------------------------------------------


async def test_a_closed_mock_refuses_work_by_its_name() -> None:
    sms_mock = SmsMock()
    client = sms_mock.client()
    await sms_mock.aclose()
    await sms_mock.aclose()  # again: nothing
    with pytest.raises(e.APIConnectionError, match="SmsMock was closed") as info:
        await client.send_sms(destination=PHONE, text="hi")
    assert info.value.may_have_been_sent is False
    for call in (
        sms_mock.client,
        lambda: sms_mock.http_client,
        lambda: sms_mock.fail("send_sms", "timeout"),
        lambda: sms_mock.deliver_to(print),
    ):
        with pytest.raises(RuntimeError, match="SmsMock was closed"):
            call()
    with pytest.raises(RuntimeError, match="SmsMock was closed"):
        await sms_mock.advance()
    assert "closed" in repr(sms_mock)


# --- 8. trio gets a sentence, not "no running event loop" ---------------------------------------


def test_the_client_under_trio_says_it_needs_asyncio() -> None:
    trio = pytest.importorskip("trio")
    sms_mock = SmsMock()
    client = sms_mock.client()
    errors: list[BaseException] = []

    async def main() -> None:
        for attempt in (
            lambda: client.send_sms(destination=PHONE, text="hi"),
            sms_mock.advance,
        ):
            try:
                await attempt()
            except RuntimeError as exc:
                errors.append(exc)

    trio.run(main)
    assert len(errors) == 2
    for error in errors:
        assert not isinstance(error, e.ValidationError)
        assert "asyncio only" in str(error)


# --- 9. small things ---------------------------------------------------------------------------


def test_the_missing_extra_message_starts_with_the_command() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import sys
                sys.modules["starlette"] = None
                try:
                    from eightxeight_async.testing import SmsMock
                except ImportError as exc:
                    print(exc)
                """
            ),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('pip install "eightxeight-async[sandbox]"')


def test_repr_of_a_half_made_mock() -> None:
    class Broken(SmsMock):
        def __init__(self) -> None:
            self.api_key = "secret-key"
            raise ValueError

    half: Any = Broken.__new__(Broken)
    with pytest.raises(ValueError):
        half.__init__()
    shown = repr(half)
    assert shown.startswith("<SmsMock")
    assert "secret-key" not in shown
    assert repr(object.__new__(SmsMock)).startswith("<SmsMock")


async def test_the_sdk_clock_moves_timers_in_order_and_forgets_cancelled_ones() -> None:
    from eightxeight_async import _clock

    loop = asyncio.get_running_loop()
    fired: list[str] = []
    start = _clock.now(loop)
    _clock.call_later(loop, 50, fired.append, "b")
    _clock.call_at(loop, start + 10, fired.append, "a")
    _clock.call_later(loop, 30, fired.append, "cancelled").cancel()
    later = _clock.call_later(loop, 3600, fired.append, "later")
    _clock.advance(loop, 60)
    assert _clock.now(loop) - start >= 60
    await _until(lambda: len(fired) == 2)
    for _ in range(10):
        await asyncio.sleep(0)
    assert fired == ["a", "b"]
    assert len(_clock._timers[loop]) == 1  # only "later" is still held
    later.cancel()
    assert not _clock._timers[loop]


def test_plain_no_backoff_mode_keeps_the_rate_limiter() -> None:
    """retry_without_waiting() alone keeps the client's own limiter: against the sandbox or 8x8,
    which enforce 1 request/s for get_message, skipping it would earn 429s (found by the
    sandbox's own fault test). The waits are real on the loop's clock and not recorded."""

    async def main() -> tuple[float, list[float]]:
        async with SmsMock() as sms_mock, sms_mock.client() as client:
            sent = await client.send_sms(destination=PHONE, text="hi")
            loop = asyncio.get_running_loop()
            with retry_without_waiting():
                start = loop.time()
                for _ in range(3):
                    await client.get_message(sent.umid)
                return loop.time() - start, list(sms_mock.limiter_waits)

    elapsed, limiter = run_virtual(main)
    assert elapsed == pytest.approx(2.0, abs=0.05)
    assert limiter == []
