"""eightxeight-async: the asyncio-native Python SDK for the 8x8 CPaaS SMS API.

Example::

    from eightxeight_async import AsyncSmsClient

    async with AsyncSmsClient(api_key="...", subaccount_id="acme_hq") as client:
        sent = await client.send_sms(destination="+6591234567", text="Your code is 123456")
"""

from ._client import AsyncSmsClient, AsyncSmsClientWithRawResponse
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
    NotPrepaidError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    SendOutcomeUnknownError,
    TLSVersionError,
    UpgradeRequiredError,
    ValidationError,
)
from ._exports import LogExportError, LogExportTimeoutError
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
from ._models_account import (
    Amount,
    Balance,
    CountryPrices,
    CredentialsLocation,
    Hni,
    InboundCountryPrices,
    InboundNumberPrice,
    InboundNumberType,
    OperatorPrice,
    PriceDirection,
    PriceList,
    SubaccountPrices,
    Webhook,
    WebhookOAuth,
)
from ._models_batch import (
    BatchMessage,
    BatchResponse,
    BatchTemplate,
    CancelResponse,
    SurveyBatchMessage,
    SurveyTemplate,
)
from ._models_exports import (
    LogExportStarted,
    LogExportState,
    LogExportStatus,
    LogRecord,
    aparse_log_records,
    parse_log_records,
)
from ._ratelimit import InProcessRateLimiter, RateLimiter
from ._raw import RawResponse
from ._redis import RateLimiterUnavailableError, RedisRateLimiter
from ._segments import SegmentEstimate, SegmentWarning, estimate_segments
from ._version import __version__
from ._webhook_models import LegacyWebhookError, WebhookFormatError
from .tracking import Delivery, DeliveryTimeoutError, DeliveryTracker

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "Amount",
    "AsyncSmsClient",
    "AsyncSmsClientWithRawResponse",
    "AuthenticationError",
    "BadRequestError",
    "Balance",
    "BatchMessage",
    "BatchResponse",
    "BatchTemplate",
    "CancelResponse",
    "CountryPrices",
    "CredentialsLocation",
    "Delivery",
    "DeliveryTimeoutError",
    "DeliveryTracker",
    "Direction",
    "EightXEightError",
    "Encoding",
    "Hni",
    "InProcessRateLimiter",
    "InboundCountryPrices",
    "InboundNumberPrice",
    "InboundNumberType",
    "InternalServerError",
    "LegacyWebhookError",
    "LogExportError",
    "LogExportStarted",
    "LogExportState",
    "LogExportStatus",
    "LogExportTimeoutError",
    "LogRecord",
    "MessageDetails",
    "MessageState",
    "MessageStatus",
    "NotFoundError",
    "NotPrepaidError",
    "OperatorPrice",
    "Outcome",
    "PermissionDeniedError",
    "Price",
    "PriceDirection",
    "PriceList",
    "RateLimitError",
    "RateLimiter",
    "RateLimiterUnavailableError",
    "RateLimits",
    "RawResponse",
    "RedisRateLimiter",
    "Region",
    "ResponseValidationError",
    "RetryPolicy",
    "SegmentEstimate",
    "SegmentWarning",
    "SendOutcomeUnknownError",
    "SmsResponse",
    "SmsStatus",
    "SmsStatusCode",
    "StatusDetail",
    "SubaccountPrices",
    "SurveyBatchMessage",
    "SurveyTemplate",
    "TLSVersionError",
    "Track",
    "UpgradeRequiredError",
    "ValidationError",
    "Webhook",
    "WebhookFormatError",
    "WebhookOAuth",
    "__version__",
    "aparse_log_records",
    "estimate_segments",
    "parse_log_records",
]

# Public names report the package, not the module they live in (as httpx does); the tracker's
# names are exported here too, so they report the package as well.
for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith(
        ("eightxeight_async._", "eightxeight_async.tracking")
    ):
        _obj.__module__ = "eightxeight_async"
del _name, _obj
