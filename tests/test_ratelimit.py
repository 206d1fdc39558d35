"""The in-process limiter and its use by the client, under virtual time (looptime)."""

from __future__ import annotations

import asyncio
import itertools

import httpx
import pytest
import respx

from eightxeight_async import AsyncSmsClient, InProcessRateLimiter, RateLimiter, RateLimits
from eightxeight_async.testing import retry_without_waiting

from .conftest import PHONE, SUBACCOUNT, TEXT, reference_examples
from .virtual_time import run_virtual

UMID = "dec02e44-c76f-4a0a-b69f-6ac2a4386eb9"
DETAILS = reference_examples()["get-message-details"][1]
SMS_OK = reference_examples()["send-sms"][0]


class RecordingLimiter:
    """A user-written limiter: no base class, only the protocol's three methods."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    async def acquire(self, key: str, *, rate: float, burst: int) -> None:
        self.calls.append(("acquire", key, rate, burst))
        await asyncio.sleep(0)  # a real backend awaits its store here

    async def pause(self, key: str, seconds: float) -> None:
        self.calls.append(("pause", key, seconds))

    async def aclose(self) -> None:
        self.calls.append(("aclose",))


class NoPause:
    async def acquire(self, key: str, *, rate: float, burst: int) -> None:
        """Acquire only."""

    async def aclose(self) -> None:
        """Close only."""


class EmptyLookingLimiter(RecordingLimiter):
    """A backend that is falsy (say, it reports how many buckets it holds through __len__)."""

    def __len__(self) -> int:
        return 0


async def test_a_falsy_user_limiter_is_still_used(api: respx.MockRouter) -> None:
    """The client uses the limiter it was given even when the object is falsy."""
    api.post(f"/api/v1/subaccounts/{SUBACCOUNT}/messages").respond(200, json=SMS_OK)
    limiter = EmptyLookingLimiter()
    async with AsyncSmsClient(api_key="k", subaccount_id=SUBACCOUNT, rate_limiter=limiter) as c:
        await c.send_sms(destination=PHONE, text=TEXT)
    assert [call[0] for call in limiter.calls] == ["acquire"]


def test_protocol_is_checked_at_runtime() -> None:
    """Both limiters satisfy RateLimiter; a class without pause() does not."""
    default: RateLimiter = InProcessRateLimiter()  # checked by mypy as well
    custom: RateLimiter = RecordingLimiter()
    assert isinstance(default, RateLimiter)
    assert isinstance(custom, RateLimiter)
    assert not isinstance(NoPause(), RateLimiter)


async def test_user_limiter_is_used_per_attempt_and_paused_on_429(api: respx.MockRouter) -> None:
    """A limiter passed in is awaited before every attempt, paused by a 429, and left open."""
    route = api.post(f"/api/v1/subaccounts/{SUBACCOUNT}/messages")
    route.side_effect = [
        httpx.Response(429, headers={"Retry-After": "2"}),
        httpx.Response(500),
        httpx.Response(200, json=SMS_OK),
    ]
    limiter = RecordingLimiter()
    limits = RateLimits(send_per_second=50.0, send_burst=5)
    with retry_without_waiting():
        async with AsyncSmsClient(
            api_key="k", subaccount_id=SUBACCOUNT, rate_limits=limits, rate_limiter=limiter
        ) as client:
            await client.send_sms(destination=PHONE, text=TEXT)
    key = f"{SUBACCOUNT}:sends"
    assert limiter.calls == [
        ("acquire", key, 50.0, 5),
        ("pause", key, 2.0),
        ("acquire", key, 50.0, 5),
        ("acquire", key, 50.0, 5),
    ]
    assert route.call_count == 3


def test_details_bucket_allows_one_per_second() -> None:
    """With rate 1 and burst 1, five acquisitions take four seconds of loop time."""

    async def main() -> None:
        limiter = InProcessRateLimiter()
        loop = asyncio.get_running_loop()
        start = loop.time()
        stamps = []
        for _ in range(5):
            await limiter.acquire("acme:details", rate=1.0, burst=1)
            stamps.append(loop.time() - start)
        assert stamps == pytest.approx([0, 1, 2, 3, 4], abs=0.01)

    run_virtual(main)


def test_send_bucket_bursts_then_holds_rate() -> None:
    """A burst goes at once; beyond it, tokens come at the configured rate."""

    async def main() -> None:
        limiter = InProcessRateLimiter()
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.gather(*(limiter.acquire("a:sends", rate=100.0, burst=10) for _ in range(10)))
        assert loop.time() - start == pytest.approx(0, abs=0.001)
        await asyncio.gather(*(limiter.acquire("a:sends", rate=100.0, burst=10) for _ in range(50)))
        assert loop.time() - start == pytest.approx(0.5, abs=0.02)

    run_virtual(main)


def test_buckets_are_per_key() -> None:
    """Two subaccounts do not share a bucket."""

    async def main() -> None:
        limiter = InProcessRateLimiter()
        loop = asyncio.get_running_loop()
        start = loop.time()
        await limiter.acquire("one:details", rate=1.0, burst=1)
        await limiter.acquire("two:details", rate=1.0, burst=1)
        assert loop.time() - start == pytest.approx(0, abs=0.001)

    run_virtual(main)


def test_pause_holds_every_caller_of_the_bucket() -> None:
    """After pause(key, 5), even callers with tokens wait until the pause ends."""

    async def main() -> None:
        limiter = InProcessRateLimiter()
        loop = asyncio.get_running_loop()
        await limiter.acquire("a:sends", rate=1000.0, burst=100)
        start = loop.time()
        await limiter.pause("a:sends", 5.0)
        await asyncio.gather(
            *(limiter.acquire("a:sends", rate=1000.0, burst=100) for _ in range(3))
        )
        assert loop.time() - start == pytest.approx(5.0, abs=0.01)
        await limiter.acquire("other:sends", rate=1000.0, burst=100)
        assert loop.time() - start == pytest.approx(5.0, abs=0.01)

    run_virtual(main)


def test_cancelled_waiter_leaves_the_queue() -> None:
    """A caller cancelled while waiting for a token does not hold up the next one."""

    async def main() -> None:
        limiter = InProcessRateLimiter()
        loop = asyncio.get_running_loop()
        await limiter.acquire("a:details", rate=1.0, burst=1)
        waiting = asyncio.create_task(limiter.acquire("a:details", rate=1.0, burst=1))
        await asyncio.sleep(0.5)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        start = loop.time()
        await limiter.acquire("a:details", rate=1.0, burst=1)
        assert loop.time() - start == pytest.approx(0.5, abs=0.01)

    run_virtual(main)


def test_client_spaces_get_message_one_per_second(api: respx.MockRouter) -> None:
    """Ten concurrent get_message calls go out one per second, with no 429 needed."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        sent_at: list[float] = []

        def record(request: httpx.Request) -> httpx.Response:
            sent_at.append(loop.time())
            return httpx.Response(200, json=DETAILS)

        api.get(f"/api/v1/subaccounts/{SUBACCOUNT}/messages/{UMID}").mock(side_effect=record)
        async with AsyncSmsClient(api_key="k", subaccount_id=SUBACCOUNT) as client:
            await asyncio.gather(*(client.get_message(UMID) for _ in range(10)))
        gaps = [b - a for a, b in itertools.pairwise(sent_at)]
        assert len(sent_at) == 10
        assert min(gaps) == pytest.approx(1.0, abs=0.01)

    run_virtual(main)


def test_429_pauses_the_whole_bucket_and_retries_take_tokens(api: respx.MockRouter) -> None:
    """A 429 with Retry-After 3 holds every send on the subaccount for 3 seconds."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        sent_at: list[float] = []
        responses = iter(
            [httpx.Response(429, headers={"Retry-After": "3"})]
            + [httpx.Response(200, json=SMS_OK)] * 5
        )

        def answer(request: httpx.Request) -> httpx.Response:
            sent_at.append(loop.time())
            return next(responses)

        api.post(f"/api/v1/subaccounts/{SUBACCOUNT}/messages").mock(side_effect=answer)
        async with AsyncSmsClient(api_key="k", subaccount_id=SUBACCOUNT) as client:
            start = loop.time()
            await client.send_sms(destination=PHONE, text=TEXT)
            others = [client.send_sms(destination=PHONE, text=TEXT) for _ in range(3)]
            await asyncio.gather(*others)
        assert len(sent_at) == 5
        assert sent_at[0] - start == pytest.approx(0, abs=0.01)
        assert all(t - start == pytest.approx(3.0, abs=0.05) for t in sent_at[1:])

    run_virtual(main)


def test_custom_rate_limits_apply(api: respx.MockRouter) -> None:
    """RateLimits changes the bucket: 2 sends/s with burst 1 spaces sends by half a second."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        sent_at: list[float] = []

        def answer(request: httpx.Request) -> httpx.Response:
            sent_at.append(loop.time())
            return httpx.Response(200, json=SMS_OK)

        api.post(f"/api/v1/subaccounts/{SUBACCOUNT}/messages").mock(side_effect=answer)
        limits = RateLimits(send_per_second=2.0, send_burst=1)
        async with AsyncSmsClient(api_key="k", subaccount_id=SUBACCOUNT, rate_limits=limits) as c:
            await asyncio.gather(*(c.send_sms(destination=PHONE, text=TEXT) for _ in range(4)))
        start = sent_at[0]
        assert [t - start for t in sent_at] == pytest.approx([0, 0.5, 1.0, 1.5], abs=0.01)

    run_virtual(main)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"send_burst": 0}, "send_burst"),
        ({"details_burst": 1.5}, "details_burst"),
        ({"send_per_second": 0}, "send_per_second"),
        ({"details_per_second": float("nan")}, "details_per_second"),
    ],
)
def test_rate_limits_validate(kwargs: dict[str, object], field: str) -> None:
    """RateLimits refuses values that cannot work."""
    from eightxeight_async import ValidationError

    with pytest.raises(ValidationError) as info:
        RateLimits(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


# --- pauses: callers queued behind a 429 leave one interval apart --------------------------------


def test_callers_queued_behind_a_pause_leave_one_interval_apart() -> None:
    """Slots taken before a pause move past it; after it, callers leave 1/rate apart."""

    async def main() -> None:
        limiter = InProcessRateLimiter()
        loop = asyncio.get_running_loop()
        start = loop.time()
        stamps: list[float] = []

        async def caller() -> None:
            await limiter.acquire("a:details", rate=1.0, burst=1)
            stamps.append(loop.time() - start)

        tasks = [asyncio.create_task(caller()) for _ in range(5)]
        await asyncio.sleep(0.5)  # the first left at 0; the others hold slots at 1, 2, 3, 4
        await limiter.pause("a:details", 3.0)  # nobody may leave before 3.5
        await asyncio.gather(*tasks)
        assert stamps[0] == pytest.approx(0, abs=0.001)
        assert all(t >= 3.5 for t in stamps[1:])
        assert min(b - a for a, b in itertools.pairwise(stamps)) >= 1.0 - 1e-3

    run_virtual(main)


def test_a_pause_extended_while_waiting_holds_too() -> None:
    """A second, longer 429 while callers wait out the first moves them again."""

    async def main() -> None:
        limiter = InProcessRateLimiter()
        loop = asyncio.get_running_loop()
        start = loop.time()
        await limiter.acquire("a:details", rate=1.0, burst=1)
        await limiter.pause("a:details", 2.0)
        waiting = asyncio.create_task(limiter.acquire("a:details", rate=1.0, burst=1))
        await asyncio.sleep(1.0)
        await limiter.pause("a:details", 4.0)  # now until 5.0
        await waiting
        assert loop.time() - start >= 5.0

    run_virtual(main)


def test_details_429_spaces_the_queued_calls(api: respx.MockRouter) -> None:
    """get_message calls queued behind a 429 reach 8x8 at least 1 s apart, none in the pause."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        sent_at: list[float] = []
        answers = iter(
            [httpx.Response(429, headers={"Retry-After": "3"})]
            + [httpx.Response(200, json=DETAILS)] * 4
        )

        def answer(request: httpx.Request) -> httpx.Response:
            sent_at.append(loop.time())
            return next(answers)

        api.get(f"/api/v1/subaccounts/{SUBACCOUNT}/messages/{UMID}").mock(side_effect=answer)
        async with AsyncSmsClient(api_key="k", subaccount_id=SUBACCOUNT) as client:
            await asyncio.gather(*(client.get_message(UMID) for _ in range(4)))
        assert len(sent_at) == 5
        assert all(t - sent_at[0] >= 3.0 for t in sent_at[1:])
        assert min(b - a for a, b in itertools.pairwise(sent_at)) >= 1.0 - 1e-3

    run_virtual(main)


def test_send_bucket_keeps_its_rate_after_a_429(api: respx.MockRouter) -> None:
    """After a 429 pause, sends resume at the bucket's rate, not in one burst."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        sent_at: list[float] = []
        answers = iter(
            [httpx.Response(429, headers={"Retry-After": "1"})]
            + [httpx.Response(200, json=SMS_OK)] * 20
        )

        def answer(request: httpx.Request) -> httpx.Response:
            sent_at.append(loop.time())
            return next(answers)

        api.post(f"/api/v1/subaccounts/{SUBACCOUNT}/messages").mock(side_effect=answer)
        limits = RateLimits(send_per_second=10.0, send_burst=5)
        async with AsyncSmsClient(api_key="k", subaccount_id=SUBACCOUNT, rate_limits=limits) as c:
            await asyncio.gather(*(c.send_sms(destination=PHONE, text=TEXT) for _ in range(20)))
        after = [t for t in sent_at if t - sent_at[0] >= 1.0]
        assert len(sent_at) == 21
        assert len(after) >= 15  # all but those sent before the 429 came back
        assert min(b - a for a, b in itertools.pairwise(after)) >= 0.1 - 1e-3

    run_virtual(main)


# --- idle buckets are forgotten ------------------------------------------------------------------


def test_idle_buckets_are_forgotten_and_limits_still_hold() -> None:
    """10,000 one-off subaccounts leave a handful of buckets; a busy one keeps its limit."""

    async def main() -> None:
        limiter = InProcessRateLimiter()
        loop = asyncio.get_running_loop()
        busy: list[float] = []

        async def busy_caller() -> None:
            for _ in range(6):
                await limiter.acquire("busy:details", rate=1.0, burst=1)
                busy.append(loop.time())

        task = asyncio.create_task(busy_caller())
        for index in range(10_000):
            await limiter.acquire(f"sub{index}:details", rate=1.0, burst=1)
            await limiter.acquire(f"sub{index}:sends", rate=1800.0, burst=180)
            if index % 2000 == 0:
                await asyncio.sleep(1.0)  # time passes while the one-off callers come and go
        await task
        await asyncio.sleep(2.0)
        await limiter.acquire("busy:details", rate=1.0, burst=1)
        busy.append(loop.time())
        assert len(limiter._buckets) <= 3
        assert min(b - a for a, b in itertools.pairwise(busy)) >= 1.0 - 1e-3

    run_virtual(main)


def test_a_pause_holds_after_its_idle_bucket_was_forgotten() -> None:
    """A 429 that arrives after the bucket went idle (and was swept) still pauses the key."""

    async def main() -> None:
        limiter = InProcessRateLimiter()
        loop = asyncio.get_running_loop()
        await limiter.acquire("slow:details", rate=1.0, burst=1)
        await asyncio.sleep(5.0)  # the request is slow; its bucket is idle meanwhile
        await limiter.acquire("other:details", rate=1.0, burst=1)  # a sweep runs
        assert "slow:details" not in limiter._buckets
        await limiter.pause("slow:details", 3.0)
        start = loop.time()
        await limiter.acquire("slow:details", rate=1.0, burst=1)
        await limiter.acquire("slow:details", rate=1.0, burst=1)
        assert loop.time() - start == pytest.approx(4.0, abs=0.01)

    run_virtual(main)


@pytest.mark.parametrize(
    ("rate", "burst", "field"),
    [(0.0, 1, "rate"), (float("nan"), 1, "rate"), (float("inf"), 1, "rate"), (1.0, 0, "burst")],
)
def test_in_process_limiter_refuses_limits_that_cannot_work(
    rate: float, burst: int, field: str
) -> None:
    """Used directly, the limiter raises ValidationError rather than ZeroDivisionError or hangs."""
    from eightxeight_async import ValidationError

    async def main() -> None:
        with pytest.raises(ValidationError) as info:
            await InProcessRateLimiter().acquire("a:sends", rate=rate, burst=burst)
        assert info.value.field == field

    run_virtual(main)


def test_a_nan_pause_is_ignored() -> None:
    """pause() with NaN seconds holds nobody (and breaks no later slot)."""

    async def main() -> None:
        limiter = InProcessRateLimiter()
        loop = asyncio.get_running_loop()
        await limiter.acquire("a:details", rate=1.0, burst=1)
        await limiter.pause("a:details", float("nan"))
        start = loop.time()
        await limiter.acquire("a:details", rate=1.0, burst=1)
        assert loop.time() - start == pytest.approx(1.0, abs=0.01)

    run_virtual(main)
