"""The operations of 8x8's SMS API, each declared once, as data.

An :class:`Operation` says everything about a request that is not its arguments: the HTTP method,
the path template, the rule of each path parameter, whether it belongs to a subaccount or an
account, its kind of call (what a retry may do, see ``_retry``), its rate-limit bucket (see
``_ratelimit``), its request and response classes, its success status and its query parameters.
The client's methods are one call each with their declaration; the call machinery (``_calls``)
reads nothing else. This is the only module that knows paths.

To add an operation: declare it here, write its models, add a method on ``AsyncSmsClient`` (a typed
signature, a docstring, one ``self._call(...)``) and its line in ``AsyncSmsClientWithRawResponse``,
and its route in the sandbox.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar
from urllib.parse import quote, urlencode

import attrs

from ._converters import encode_query
from ._models import FeedbackRequest, MessageDetails, SmsRequest, SmsResponse, SurveyRequest
from ._models_account import (
    Balance,
    PriceList,
    PriceQuery,
    Webhook,
    WebhookDelete,
    WebhookRequest,
)
from ._models_batch import BatchRequest, BatchResponse, CancelResponse, SurveyBatchRequest
from ._models_exports import LogExportRequest, LogExportStarted, LogExportStatus
from ._ratelimit import Bucket
from ._retry import CallKind
from ._validators import check_path_id

__all__ = [
    "CANCEL_BATCH",
    "CANCEL_LOG_EXPORT",
    "CANCEL_MESSAGE",
    "DELETE_PII",
    "DELETE_WEBHOOKS",
    "GET_BALANCE",
    "GET_LOG_EXPORT",
    "GET_MESSAGE",
    "GET_PRICES",
    "LIST_WEBHOOKS",
    "OPERATIONS",
    "SEND_BATCH",
    "SEND_FEEDBACK",
    "SEND_SMS",
    "SEND_SURVEY",
    "SEND_SURVEY_BATCH",
    "SET_WEBHOOK",
    "START_LOG_EXPORT",
    "Operation",
    "PathRule",
    "Scope",
]

_R = TypeVar("_R")

#: A path parameter's rule: takes the value and the argument's name, returns the checked value
#: or raises ``ValidationError(field, rule)``.
PathRule = Callable[[object, str], str]


class Scope(enum.Enum):
    """Whom an operation's path belongs to; names the path parameter the client fills in."""

    SUBACCOUNT = "subaccount_id"
    """``/api/v1/subaccounts/{subaccount_id}/...``: the call's ``subaccount_id=``, else the
    client's."""
    ACCOUNT = "account_id"
    """``/api/v1/accounts/{account_id}/...``: the call's ``account_id=``, else the client's."""


@attrs.frozen(kw_only=True)
class Operation(Generic[_R]):
    """One operation of the API: the data the call machinery needs to make and read a request.

    ``_R`` is what the client method returns: the response class, ``tuple[X, ...]`` for a JSON
    array, or ``None``.
    """

    name: str
    """The client method's name; also what the debug log calls the request."""
    method: str
    """The HTTP method."""
    path: str
    """The path template: ``{subaccount_id}`` or ``{account_id}`` (the scope), and one
    ``{name}`` per entry of :attr:`path_params`, in Python argument names."""
    scope: Scope
    """Whether the path belongs to a subaccount or an account."""
    kind: CallKind
    """What repeating the request would do; the retry rules follow from it."""
    bucket: Bucket
    """The rate-limit bucket of the scope's subaccount or account."""
    response: Any
    """The 2xx body's type: a response class, ``tuple[X, ...]`` for a JSON array, or ``None``
    when the answer carries nothing (an empty body)."""
    path_params: tuple[tuple[str, PathRule], ...] = ()
    """The path parameters beyond the scope, each with its rule, checked before any I/O."""
    request: Any = None
    """The body's class (the class of each item for an array body), or ``None`` for no body."""
    array_body: bool = False
    """Whether the body is a JSON array of :attr:`request` objects."""
    success: tuple[int, ...] = (200,)
    """The status(es) 8x8 documents for success (any 2xx is read as success)."""
    query: Any = None
    """The class of its query parameters (an attrs class, named like a body), or ``None``."""

    def target(
        self, owner: str, path: Mapping[str, object] | None = None, query: object = None
    ) -> str:
        """The path and query string of one call, every path segment checked and encoded.

        Args:
            owner: The subaccount or account id (already checked by the client).
            path: The path parameters' values, by name.
            query: An instance of :attr:`query`, or ``None``; unset parameters are left out.

        Returns:
            ``/api/v1/...`` with ``?...`` when there is a query.

        Raises:
            ValidationError: When a path parameter breaks its rule.
        """
        given = path or {}
        # subAccountId may hold "&": every segment is percent-encoded whole. Path ids are
        # unreserved characters only (check_path_id), which encoding leaves as they are.
        values = {self.scope.value: quote(owner, safe="")}
        for name, rule in self.path_params:
            values[name] = quote(rule(given.get(name), name), safe="")
        target = self.path.format(**values)
        if query is not None:
            if self.query is None or not isinstance(query, self.query):
                msg = f"{self.name} takes {self.query!r} as its query, not {type(query)!r}"
                raise TypeError(msg)  # a bug of ours: the method and its declaration disagree
            pairs = encode_query(query)
            if pairs:
                target += "?" + urlencode(pairs, quote_via=quote)
        return target


_SUBACCOUNT = "/api/v1/subaccounts/{subaccount_id}"

SEND_SMS: Operation[SmsResponse] = Operation(
    name="send_sms",
    method="POST",
    path=f"{_SUBACCOUNT}/messages",
    scope=Scope.SUBACCOUNT,
    kind=CallKind.SEND,
    bucket=Bucket.SENDS,
    request=SmsRequest,
    response=SmsResponse,
)

SEND_SURVEY: Operation[SmsResponse] = Operation(
    name="send_survey",
    method="POST",
    path=f"{_SUBACCOUNT}/surveys/{{survey_id}}/messages",
    scope=Scope.SUBACCOUNT,
    path_params=(("survey_id", check_path_id),),
    kind=CallKind.SEND,
    bucket=Bucket.SENDS,
    request=SurveyRequest,
    response=SmsResponse,
)

GET_MESSAGE: Operation[MessageDetails] = Operation(
    name="get_message",
    method="GET",
    path=f"{_SUBACCOUNT}/messages/{{umid}}",
    scope=Scope.SUBACCOUNT,
    path_params=(("umid", check_path_id),),
    kind=CallKind.READ,
    bucket=Bucket.DETAILS,
    response=MessageDetails,
)

SEND_FEEDBACK: Operation[None] = Operation(
    name="send_feedback",
    method="POST",
    path=f"{_SUBACCOUNT}/messages/{{umid}}/feedback",
    scope=Scope.SUBACCOUNT,
    path_params=(("umid", check_path_id),),
    kind=CallKind.OTHER,
    bucket=Bucket.SENDS,
    request=FeedbackRequest,
    response=None,
)

SEND_BATCH: Operation[BatchResponse] = Operation(
    name="send_batch",
    method="POST",
    path=f"{_SUBACCOUNT}/messages/batch",
    scope=Scope.SUBACCOUNT,
    kind=CallKind.SEND,
    bucket=Bucket.SENDS,
    request=BatchRequest,
    response=BatchResponse,
)

SEND_SURVEY_BATCH: Operation[BatchResponse] = Operation(
    name="send_survey_batch",
    method="POST",
    path=f"{_SUBACCOUNT}/surveys/{{survey_id}}/messages/batch",
    scope=Scope.SUBACCOUNT,
    path_params=(("survey_id", check_path_id),),
    kind=CallKind.SEND,
    bucket=Bucket.SENDS,
    request=SurveyBatchRequest,
    response=BatchResponse,
)

CANCEL_MESSAGE: Operation[CancelResponse] = Operation(
    name="cancel_message",
    method="DELETE",
    path=f"{_SUBACCOUNT}/messages/{{umid}}",
    scope=Scope.SUBACCOUNT,
    path_params=(("umid", check_path_id),),
    kind=CallKind.READ,  # a DELETE: repeating it changes nothing more (see CallKind.READ)
    bucket=Bucket.SENDS,
    response=CancelResponse,
)

CANCEL_BATCH: Operation[CancelResponse] = Operation(
    name="cancel_batch",
    method="DELETE",
    path=f"{_SUBACCOUNT}/messages/batch/{{batch_id}}",
    scope=Scope.SUBACCOUNT,
    path_params=(("batch_id", check_path_id),),
    kind=CallKind.READ,
    bucket=Bucket.SENDS,
    response=CancelResponse,
)

DELETE_PII: Operation[None] = Operation(
    name="delete_pii",
    method="DELETE",
    path=f"{_SUBACCOUNT}/messages/{{umid}}/pii",
    scope=Scope.SUBACCOUNT,
    path_params=(("umid", check_path_id),),
    kind=CallKind.READ,
    bucket=Bucket.SENDS,
    response=None,
    success=(202,),
)

START_LOG_EXPORT: Operation[LogExportStarted] = Operation(
    name="start_log_export",
    method="POST",
    path=f"{_SUBACCOUNT}/messages/exports",
    scope=Scope.SUBACCOUNT,
    kind=CallKind.OTHER,  # a replay could start a second job
    bucket=Bucket.SENDS,
    request=LogExportRequest,
    response=LogExportStarted,
    success=(202,),
)

GET_LOG_EXPORT: Operation[LogExportStatus] = Operation(
    name="get_log_export",
    method="GET",
    path=f"{_SUBACCOUNT}/messages/exports/{{job_id}}",
    scope=Scope.SUBACCOUNT,
    path_params=(("job_id", check_path_id),),
    kind=CallKind.READ,
    bucket=Bucket.SENDS,
    response=LogExportStatus,
)

CANCEL_LOG_EXPORT: Operation[None] = Operation(
    name="cancel_log_export",
    method="DELETE",
    path=f"{_SUBACCOUNT}/messages/exports/{{job_id}}",
    scope=Scope.SUBACCOUNT,
    path_params=(("job_id", check_path_id),),
    kind=CallKind.READ,
    bucket=Bucket.SENDS,
    response=None,
    success=(204,),
)

_ACCOUNT = "/api/v1/accounts/{account_id}"

GET_PRICES: Operation[PriceList] = Operation(
    name="get_prices",
    method="GET",
    path=f"{_ACCOUNT}/prices",
    scope=Scope.ACCOUNT,
    kind=CallKind.READ,
    bucket=Bucket.ACCOUNT,
    response=PriceList,
    query=PriceQuery,
)

GET_BALANCE: Operation[Balance] = Operation(
    name="get_balance",
    method="GET",
    path=f"{_ACCOUNT}/balance",
    scope=Scope.ACCOUNT,
    kind=CallKind.READ,
    bucket=Bucket.ACCOUNT,
    response=Balance,
)

LIST_WEBHOOKS: Operation[tuple[Webhook, ...]] = Operation(
    name="list_webhooks",
    method="GET",
    path=f"{_ACCOUNT}/webhooks",
    scope=Scope.ACCOUNT,
    kind=CallKind.READ,
    bucket=Bucket.ACCOUNT,
    response=tuple[Webhook, ...],
)

SET_WEBHOOK: Operation[None] = Operation(
    name="set_webhook",
    method="POST",
    path=f"{_ACCOUNT}/webhooks",
    scope=Scope.ACCOUNT,
    kind=CallKind.OTHER,
    bucket=Bucket.ACCOUNT,
    request=WebhookRequest,
    array_body=True,
    response=None,
)

DELETE_WEBHOOKS: Operation[None] = Operation(
    name="delete_webhooks",
    method="DELETE",
    path=f"{_ACCOUNT}/webhooks",
    scope=Scope.ACCOUNT,
    kind=CallKind.READ,
    bucket=Bucket.ACCOUNT,
    request=WebhookDelete,
    array_body=True,
    response=None,
)

#: Every declared operation, by name.
OPERATIONS: dict[str, Operation[Any]] = {
    op.name: op
    for op in (
        SEND_SMS,
        SEND_SURVEY,
        GET_MESSAGE,
        SEND_FEEDBACK,
        SEND_BATCH,
        SEND_SURVEY_BATCH,
        CANCEL_MESSAGE,
        CANCEL_BATCH,
        DELETE_PII,
        START_LOG_EXPORT,
        GET_LOG_EXPORT,
        CANCEL_LOG_EXPORT,
        GET_PRICES,
        GET_BALANCE,
        LIST_WEBHOOKS,
        SET_WEBHOOK,
        DELETE_WEBHOOKS,
    )
}
