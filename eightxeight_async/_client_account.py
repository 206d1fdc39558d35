"""The account methods of ``AsyncSmsClient``: prices, balance and webhook configuration.

Each is a typed signature, a docstring and one ``self._call(...)`` with its declaration from
``_operations``. Their path names an account (``account_id=`` on the call, else the client's,
else ``EIGHTXEIGHT_ACCOUNT_ID``), not a subaccount.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from ._calls import OperationClient
from ._errors import ValidationError
from ._models_account import (
    Balance,
    PriceDirection,
    PriceList,
    PriceQuery,
    Webhook,
    WebhookDelete,
    WebhookOAuth,
    WebhookRequest,
)
from ._operations import DELETE_WEBHOOKS, GET_BALANCE, GET_PRICES, LIST_WEBHOOKS, SET_WEBHOOK
from ._validators import check_webhook_scope

__all__ = ["AccountMethods"]


class AccountMethods(OperationClient):
    """Read prices and the balance; configure where 8x8 posts events."""

    def _scope(self, subaccount_id: str | None) -> str:
        # A webhook belongs to a subaccount (or to "*", every one): the call's, else the client's.
        if subaccount_id is not None:
            return subaccount_id
        if self._subaccount_id is None:
            raise ValidationError(
                "subaccount_id", 'given (a subaccount id, or "*" for every subaccount)'
            )
        return self._subaccount_id

    async def get_prices(
        self,
        *,
        country: str | None = None,
        mcc: int | None = None,
        mnc: int | None = None,
        direction: PriceDirection | str | None = None,
        subaccount_id: str | None = None,
        account_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> PriceList:
        """Read the account's price list, optionally filtered.

        Args:
            country: Only this country (ISO 3166-1 alpha-2).
            mcc: Only this mobile country code; give ``mnc`` with it.
            mnc: Only this mobile network code; give ``mcc`` with it.
            direction: Only ``"outbound"`` or only ``"inbound"`` prices.
            subaccount_id: Only this subaccount's prices. A filter here: the client's own
                subaccount is not applied.
            account_id: Overrides the client's account.
            timeout: Overrides the client's timeout for this call.

        Returns:
            The prices of each subaccount, by country and operator (amounts as ``Decimal``).

        Raises:
            ValidationError: A filter breaks a documented rule, or no account id is known;
                nothing was sent.
            APIStatusError: 8x8 answered with an error.
            APIConnectionError: The connection failed.
            ResponseValidationError: 8x8's answer did not have the documented shape.
        """
        return await self._call(
            GET_PRICES,
            query=PriceQuery(
                country=country, mcc=mcc, mnc=mnc, direction=direction, subaccount_id=subaccount_id
            ),
            account_id=account_id,
            timeout=timeout,
        )

    async def get_balance(
        self, *, account_id: str | None = None, timeout: float | httpx.Timeout | None = None
    ) -> Balance:
        """Read the balance of a prepaid account.

        Args:
            account_id: Overrides the client's account.
            timeout: Overrides the client's timeout for this call.

        Returns:
            The balance (an exact ``Decimal``) and its currency.

        Raises:
            ValidationError: No usable account id; nothing was sent.
            NotPrepaidError: The account is post-paid (HTTP 403, code 1201): it has no balance.
            APIStatusError: 8x8 answered with another error.
            APIConnectionError: The connection failed.
            ResponseValidationError: 8x8's answer did not have the documented shape.
        """
        return await self._call(GET_BALANCE, account_id=account_id, timeout=timeout)

    async def list_webhooks(
        self, *, account_id: str | None = None, timeout: float | httpx.Timeout | None = None
    ) -> tuple[Webhook, ...]:
        """List the account's webhooks (8x8 masks their secrets as ``***``).

        Args:
            account_id: Overrides the client's account.
            timeout: Overrides the client's timeout for this call.

        Returns:
            One webhook per subaccount scope (``"*"`` is every subaccount).

        Raises:
            ValidationError: No usable account id; nothing was sent.
            APIStatusError: 8x8 answered with an error.
            APIConnectionError: The connection failed.
            ResponseValidationError: 8x8's answer did not have the documented shape.
        """
        return await self._call(LIST_WEBHOOKS, account_id=account_id, timeout=timeout)

    async def set_webhook(
        self,
        *,
        url: str,
        subaccount_id: str | None = None,
        enabled: bool = True,
        http_authorization: str | None = None,
        oauth: WebhookOAuth | Mapping[str, Any] | None = None,
        account_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> None:
        """Create or replace the webhook of a subaccount: where 8x8 posts its events.

        One URL receives every event of the scope (delivery receipts, inbound SMS). 8x8 signs
        nothing: protect the URL with ``http_authorization`` or ``oauth`` (never both), or by
        allow-listing 8x8's addresses. Secrets stay out of reprs, logs and errors.

        Args:
            url: The absolute http(s) URL 8x8 posts to.
            subaccount_id: The scope: a subaccount id, or ``"*"`` for every subaccount; the
                client's subaccount when omitted.
            enabled: Whether 8x8 posts to it.
            http_authorization: A static ``Authorization`` header value 8x8 sends with each
                event, e.g. ``"Basic dXNlcjpwYXNz"``.
            oauth: OAuth 2.0 client credentials 8x8 uses to get a token for each event.
            account_id: Overrides the client's account.
            timeout: Overrides the client's timeout for this call.

        Raises:
            ValidationError: An argument breaks a rule, or no account id is known; nothing was
                sent.
            APIStatusError: 8x8 answered with an error (e.g. an old-format webhook exists).
            APIConnectionError: The connection failed.
        """
        webhook = WebhookRequest(
            subaccount_id=self._scope(subaccount_id),
            url=url,
            enabled=enabled,
            http_authorization=http_authorization,
            oauth=oauth,
        )
        await self._call(SET_WEBHOOK, body=(webhook,), account_id=account_id, timeout=timeout)

    async def delete_webhooks(
        self,
        *,
        subaccount_ids: Sequence[str] | None = None,
        account_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> None:
        """Delete the webhooks of some subaccount scopes.

        Args:
            subaccount_ids: The scopes whose webhook to delete; ``"*"`` is the webhook set for
                every subaccount (not a wildcard over the others). The client's subaccount when
                omitted.
            account_id: Overrides the client's account.
            timeout: Overrides the client's timeout for this call.

        Raises:
            ValidationError: A scope breaks the subaccount rule, or no account id is known;
                nothing was sent.
            APIStatusError: 8x8 answered with an error.
            APIConnectionError: The connection failed.
        """
        if subaccount_ids is None:
            scopes: Sequence[str] = (self._scope(None),)
        elif isinstance(subaccount_ids, (list, tuple)) and subaccount_ids:
            scopes = subaccount_ids
        else:
            raise ValidationError("subaccount_ids", 'a non-empty list of subaccount ids (or "*")')
        body = tuple(
            WebhookDelete(subaccount_id=check_webhook_scope(scope, f"subaccount_ids[{index}]"))
            for index, scope in enumerate(scopes)
        )
        await self._call(DELETE_WEBHOOKS, body=body, account_id=account_id, timeout=timeout)
