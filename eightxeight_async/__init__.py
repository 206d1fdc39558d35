"""eightxeight-async: the asyncio-native Python SDK for the 8x8 CPaaS SMS API.

Example::

    from eightxeight_async import AsyncSmsClient

    async with AsyncSmsClient(api_key="...", subaccount_id="acme_hq") as client:
        sent = await client.send_sms(destination="+6591234567", text="Your code is 123456")
"""

from ._client import AsyncSmsClient
from ._config import RateLimits, Region, RetryPolicy
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    EightXEightError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    SendOutcomeUnknownError,
    TLSVersionError,
    UpgradeRequiredError,
    ValidationError,
)
from ._models import (
    Direction,
    Encoding,
    MessageDetails,
    MessageState,
    MessageStatus,
    Outcome,
    Price,
    SmsResponse,
    SmsStatus,
    SmsStatusCode,
    StatusDetail,
    Track,
)
from ._ratelimit import InProcessRateLimiter, RateLimiter
from ._version import __version__

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncSmsClient",
    "AuthenticationError",
    "BadRequestError",
    "Direction",
    "EightXEightError",
    "Encoding",
    "InProcessRateLimiter",
    "InternalServerError",
    "MessageDetails",
    "MessageState",
    "MessageStatus",
    "NotFoundError",
    "Outcome",
    "PermissionDeniedError",
    "Price",
    "RateLimitError",
    "RateLimiter",
    "RateLimits",
    "Region",
    "ResponseValidationError",
    "RetryPolicy",
    "SendOutcomeUnknownError",
    "SmsResponse",
    "SmsStatus",
    "SmsStatusCode",
    "StatusDetail",
    "TLSVersionError",
    "Track",
    "UpgradeRequiredError",
    "ValidationError",
    "__version__",
]

# Public names report the package, not the private module they live in (as httpx does).
for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("eightxeight_async._"):
        _obj.__module__ = "eightxeight_async"
del _name, _obj
