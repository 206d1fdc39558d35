"""Which failures are retried, how long to wait, and the tenacity loop that does it.

This is the only module that decides whether a failed request is tried again. It combines three
things: the kind of call (:class:`CallKind`, declared once per operation in ``_operations``), the
facts the error states (``APIError.may_have_been_sent``, ``APIConnectionError.permanent``, the
HTTP status) and the :class:`RetryPolicy`. The table:

========================================  ======  ======  ======
failure                                   SEND    READ    OTHER
========================================  ======  ======  ======
HTTP 429 (waits ``Retry-After``)          retry   retry   retry
HTTP 500 (8x8 code 2000, or no body)      retry   retry   retry
other HTTP errors (4xx, 426, 502-504)     no      no      no
permanent (TLS, certificate, closed...)   no      no      no
nothing was sent (refused, pool wait...)  retry   retry   retry
may have been sent (timeout, disconnect)  opt-in  retry   no
========================================  ======  ======  ======

"opt-in" is ``RetryPolicy(replay_ambiguous_sends=True)``; without it an ambiguous send ends as
``SendOutcomeUnknownError``. 502-504 may come from a proxy after the request reached 8x8, so they
are not replayed blindly.

tenacity stays private behind :class:`RetryPolicy`: users see our errors, never
``tenacity.RetryError`` (hence ``reraise=True`` everywhere), and the rules are small pure
functions that the tests check as tables.
"""

from __future__ import annotations

import email.utils
import enum
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import tenacity

from ._clock import sleep
from ._config import RetryPolicy
from ._errors import APIConnectionError, APIStatusError, RateLimitError

__all__ = [
    "CallKind",
    "compute_backoff",
    "parse_retry_after",
    "retry_call",
    "should_retry",
    "wait_for_attempt",
]

_T = TypeVar("_T")


class CallKind(enum.Enum):
    """What repeating a request would do: the one fact about an operation the retry rules need.

    Each operation declares its kind in ``_operations``; the table in this module's docstring
    says what each kind retries.
    """

    SEND = "send"
    """It sends messages (``send_sms``, ``send_survey``, the batch sends): a replay after an
    ambiguous failure can deliver them twice, so it happens only with
    ``RetryPolicy(replay_ambiguous_sends=True)``."""
    READ = "read"
    """Repeating it is harmless: the GETs, and the DELETEs (cancels, PII deletion, webhook
    removal), which RFC 9110 makes idempotent: a second DELETE changes nothing more. A replayed
    cancel may then report 0 cancelled or 404 where the first attempt did the work."""
    OTHER = "other"
    """Anything else that changes state (feedback, starting a log export, setting a webhook):
    retried only when the request provably never left, or 8x8 answered 429 or 500."""


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Parse a ``Retry-After`` header: delay-seconds or an HTTP date.

    Args:
        value: The header value, or ``None`` when absent.
        now: The current POSIX time (for tests); defaults to ``time.time()``.

    Returns:
        Seconds to wait (0 for a date in the past), or ``None`` when absent or unreadable.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN or infinite
            return None
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a date without a zone is taken as such
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def compute_backoff(policy: RetryPolicy, attempts_made: int, *, rand: float | None = None) -> float:
    """Exponential backoff with full jitter: ``uniform(0, min(max_wait, initial * 2**(n-1)))``.

    Args:
        policy: The retry policy.
        attempts_made: How many attempts have failed so far (1 after the first).
        rand: A number in [0, 1) to use instead of ``random.random()`` (for tests).

    Returns:
        Seconds to wait before the next attempt.
    """
    exponent = min(max(attempts_made - 1, 0), 60)  # 2**60 s is already beyond any cap
    ceiling = min(policy.max_wait, policy.initial_wait * 2.0**exponent)
    fraction = random.random() if rand is None else rand  # noqa: S311 (jitter, not cryptography)
    return ceiling * fraction


def wait_for_attempt(policy: RetryPolicy, exc: BaseException | None, attempts_made: int) -> float:
    """How long to wait after ``exc`` ended attempt ``attempts_made``.

    A 429 with ``Retry-After`` waits what the server asked, capped at ``policy.max_retry_after``;
    everything else backs off.
    """
    if isinstance(exc, RateLimitError) and exc.retry_after is not None:
        return min(exc.retry_after, policy.max_retry_after)
    return compute_backoff(policy, attempts_made)


def should_retry(exc: BaseException, *, kind: CallKind, policy: RetryPolicy) -> bool:
    """Whether a failed attempt may be tried again (the table in the module's docstring).

    Args:
        exc: The error the attempt raised.
        kind: The operation's kind of call.
        policy: The retry policy (its ``replay_ambiguous_sends`` opt-in).

    Returns:
        True to retry (if attempts remain), False to raise now.
    """
    if isinstance(exc, RateLimitError):
        return True
    if isinstance(exc, APIStatusError):
        # "500 / code 2000": any HTTP 500, whatever its body says.
        return exc.status_code == 500
    if not isinstance(exc, APIConnectionError) or exc.permanent:
        return False
    if not exc.may_have_been_sent:
        return True
    if kind is CallKind.READ:
        return True
    return kind is CallKind.SEND and policy.replay_ambiguous_sends


async def retry_call(
    fn: Callable[[], Awaitable[_T]],
    *,
    policy: RetryPolicy,
    kind: CallKind,
    on_retry: Callable[[BaseException, float], None] | None = None,
) -> _T:
    """Call ``fn`` until it succeeds, a failure is final, or the attempts run out.

    Args:
        fn: One attempt (it takes its own rate-limit token each time).
        policy: The retry policy.
        kind: The operation's kind of call.
        on_retry: Told the error and the wait in seconds each time a failed attempt is about
            to be tried again, before the wait (for tracing).

    Returns:
        What ``fn`` returned.

    Raises:
        EightXEightError: The last attempt's error, as it was (never ``tenacity.RetryError``).
    """
    # The first attempt runs outside tenacity: most calls succeed at once, and building a
    # retry loop for them costs more CPU than the SDK's whole request layer.
    try:
        return await fn()
    except Exception as exc:
        if policy.max_attempts == 1 or not should_retry(exc, kind=kind, policy=policy):
            raise
        first_wait = wait_for_attempt(policy, exc, 1)
        if on_retry is not None:
            on_retry(exc, first_wait)
    await sleep(first_wait)

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        return wait_for_attempt(policy, exc, state.attempt_number + 1)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None and state.next_action is not None:
            error = state.outcome.exception()
            if error is not None:
                on_retry(error, state.next_action.sleep)

    retrying = tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(policy.max_attempts - 1),
        wait=wait,
        retry=tenacity.retry_if_exception(lambda exc: should_retry(exc, kind=kind, policy=policy)),
        # Without reraise, tenacity raises RetryError and hides our typed error from the user.
        reraise=True,
        sleep=sleep,
        before_sleep=None if on_retry is None else before_sleep,
    )
    return await retrying(fn)
