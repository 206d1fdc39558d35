"""The in-process limiter and its use by the client, under virtual time (looptime)."""

from __future__ import annotations

import asyncio
import itertools

import httpx
import pytest
import respx

from eightxeight_async import AsyncSmsClient, InProcessRateLimiter, RateLimiter, RateLimits

from .conftest import PHONE, SUBACCOUNT, TEXT, reference_examples
from .virtual_time import run_virtual

UMID = "dec02e44-c76f-4a0a-b69f-6ac2a4386eb9"
DETAILS = reference_examples()["get-message-details"][1]
SMS_OK = reference_examples()["send-sms"][0]


def test_in_process_limiter_meets_the_protocol() -> None:
    """The default limiter implements the protocol a Redis limiter will implement too."""
    assert isinstance(InProcessRateLimiter(), RateLimiter)


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
