"""The retry rules as pure functions, checked as tables."""

from __future__ import annotations

import email.utils

import httpx
import pytest

import eightxeight_async as e
from eightxeight_async import RetryPolicy
from eightxeight_async._retry import (
    CallKind,
    compute_backoff,
    parse_retry_after,
    should_retry,
    wait_for_attempt,
)

NOW = 1_700_000_000.0
REQUEST = httpx.Request("GET", "https://sms.8x8.com/x")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, None, id="absent"),
        pytest.param("", None, id="empty"),
        pytest.param("1", 1.0, id="int"),
        pytest.param(" 2 ", 2.0, id="spaces"),
        pytest.param("0.5", 0.5, id="float"),
        pytest.param("-3", 0.0, id="negative"),
        pytest.param("nan", None, id="nan"),
        pytest.param("inf", None, id="inf"),
        pytest.param("soon", None, id="garbage"),
        pytest.param(email.utils.formatdate(NOW + 30, usegmt=True), 30.0, id="http-date"),
        pytest.param(email.utils.formatdate(NOW - 30, usegmt=True), 0.0, id="past-date"),
        pytest.param("Wed, 21 Oct 2015 07:28:00", None, id="date-no-zone"),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Retry-After is read as seconds or an HTTP date; anything else is ignored."""
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize(
    ("attempts", "rand", "expected"),
    [
        (1, 0.5, 0.25),
        (2, 0.5, 0.5),
        (3, 1.0, 2.0),
        (4, 1.0, 4.0),
        (10, 1.0, 30.0),
        (1000, 1.0, 30.0),
        (3, 0.0, 0.0),
    ],
)
def test_compute_backoff_full_jitter(attempts: int, rand: float, expected: float) -> None:
    """uniform(0, min(max_wait, initial * 2**(n-1))), capped at max_wait."""
    assert compute_backoff(RetryPolicy(), attempts, rand=rand) == pytest.approx(expected)


def test_backoff_stays_within_bounds() -> None:
    """Random backoff never exceeds the ceiling."""
    policy = RetryPolicy(initial_wait=1, max_wait=5)
    for attempts in range(1, 10):
        for _ in range(50):
            assert 0 <= compute_backoff(policy, attempts) <= min(5, 2 ** (attempts - 1))


def rate_limited(retry_after: float | None) -> e.RateLimitError:
    resp = httpx.Response(429, request=REQUEST)
    return e.RateLimitError("429", response=resp, retry_after=retry_after)


def test_wait_honours_retry_after_with_cap() -> None:
    """A 429 waits what it asks for, capped; without the header it backs off."""
    policy = RetryPolicy(max_retry_after=10)
    assert wait_for_attempt(policy, rate_limited(3.0), 1) == 3.0
    assert wait_for_attempt(policy, rate_limited(3600.0), 1) == 10.0
    assert 0 <= wait_for_attempt(policy, rate_limited(None), 1) <= policy.initial_wait


def _status(code: int) -> e.APIStatusError:
    from eightxeight_async._errors import error_class_for_status

    return error_class_for_status(code)("x", response=httpx.Response(code, request=REQUEST))


def _closed_send() -> e.SendOutcomeUnknownError:
    """The error of a send that aclose() stopped on the wire: never replayed."""
    from eightxeight_async._calls import SENDING, closed_error
    from eightxeight_async._errors import SendIds

    error = closed_error(SENDING, SendIds(client_message_id="c"), None)
    assert isinstance(error, e.SendOutcomeUnknownError)
    return error


DEFAULT = RetryPolicy()
REPLAY = RetryPolicy(replay_ambiguous_sends=True)
SEND, READ, OTHER = CallKind.SEND, CallKind.READ, CallKind.OTHER


@pytest.mark.parametrize(
    ("exc", "kind", "policy", "expected"),
    [
        pytest.param(rate_limited(1.0), SEND, DEFAULT, True, id="429-send"),
        pytest.param(rate_limited(None), READ, DEFAULT, True, id="429-get"),
        pytest.param(rate_limited(None), OTHER, DEFAULT, True, id="429-other"),
        pytest.param(_status(500), SEND, DEFAULT, True, id="500"),
        pytest.param(_status(500), OTHER, DEFAULT, True, id="500-other"),
        pytest.param(_status(502), READ, DEFAULT, False, id="502"),
        pytest.param(_status(400), READ, DEFAULT, False, id="400"),
        pytest.param(_status(401), READ, DEFAULT, False, id="401"),
        pytest.param(_status(403), READ, REPLAY, False, id="403"),
        pytest.param(_status(404), READ, DEFAULT, False, id="404"),
        pytest.param(_status(426), READ, DEFAULT, False, id="426"),
        pytest.param(e.APIConnectionError("x"), SEND, DEFAULT, True, id="connect-send"),
        pytest.param(e.APIConnectionError("x"), OTHER, DEFAULT, True, id="connect-other"),
        pytest.param(e.APITimeoutError("x"), SEND, DEFAULT, True, id="connect-timeout-send"),
        pytest.param(
            e.APITimeoutError("x", may_have_been_sent=True),
            READ,
            DEFAULT,
            True,
            id="read-timeout-get",
        ),
        pytest.param(
            e.APIConnectionError("x", may_have_been_sent=True),
            READ,
            DEFAULT,
            True,
            id="disconnect-get",
        ),
        pytest.param(
            e.APITimeoutError("x", may_have_been_sent=True),
            OTHER,
            DEFAULT,
            False,
            id="timeout-feedback",
        ),
        pytest.param(
            e.APITimeoutError("x", may_have_been_sent=True),
            OTHER,
            REPLAY,
            False,
            id="timeout-feedback-replay-is-for-sends-only",
        ),
        pytest.param(
            e.SendOutcomeUnknownError(client_message_id="c"), SEND, DEFAULT, False, id="unknown"
        ),
        pytest.param(
            e.SendOutcomeUnknownError(client_message_id="c"), SEND, REPLAY, True, id="replay"
        ),
        pytest.param(
            e.SendOutcomeUnknownError(client_batch_id="b"), SEND, REPLAY, True, id="replay-batch"
        ),
        pytest.param(_closed_send(), SEND, REPLAY, False, id="replay-stopped-by-aclose"),
        pytest.param(e.TLSVersionError(), READ, REPLAY, False, id="tls"),
        pytest.param(e.APIConnectionError("cert", permanent=True), READ, DEFAULT, False, id="cert"),
        pytest.param(
            e.APIConnectionError("cert", retryable=False),
            READ,
            DEFAULT,
            False,
            id="cert-old-spelling",
        ),
        pytest.param(e.ValidationError("a", "b"), READ, DEFAULT, False, id="validation"),
        pytest.param(e.ResponseValidationError("x", path="$"), READ, DEFAULT, False, id="response"),
        pytest.param(RuntimeError("bug"), READ, DEFAULT, False, id="other"),
    ],
)
def test_should_retry_table(
    exc: BaseException, kind: CallKind, policy: RetryPolicy, expected: bool
) -> None:
    """What is retried and what is not, by kind of call, as the contract lists it."""
    assert should_retry(exc, kind=kind, policy=policy) is expected


@pytest.mark.parametrize(
    ("kind", "ambiguous_retried", "unsent_retried"),
    [(SEND, False, True), (READ, True, True), (OTHER, False, True)],
)
def test_each_kind_follows_the_documented_table(
    kind: CallKind, ambiguous_retried: bool, unsent_retried: bool
) -> None:
    """The table in _retry's docstring, row by row, for every kind."""
    maybe_sent = e.APIConnectionError("x", may_have_been_sent=True)
    unsent = e.APIConnectionError("x")
    assert should_retry(maybe_sent, kind=kind, policy=DEFAULT) is ambiguous_retried
    assert should_retry(unsent, kind=kind, policy=DEFAULT) is unsent_retried
    assert should_retry(_status(500), kind=kind, policy=DEFAULT)
    assert should_retry(rate_limited(None), kind=kind, policy=DEFAULT)
    assert not should_retry(e.APIConnectionError("x", permanent=True), kind=kind, policy=REPLAY)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"initial_wait": 0}, "initial_wait"),
        ({"max_wait": float("inf")}, "max_wait"),
        ({"max_retry_after": -1}, "max_retry_after"),
    ],
)
def test_retry_policy_validates(kwargs: dict[str, object], field: str) -> None:
    """RetryPolicy refuses values that cannot work."""
    with pytest.raises(e.ValidationError) as info:
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_retry_policy_never_is_one_attempt() -> None:
    """RetryPolicy.never() makes exactly one attempt."""
    assert RetryPolicy.never().max_attempts == 1
