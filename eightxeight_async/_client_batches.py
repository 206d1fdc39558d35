"""The batch, cancel and PII methods of ``AsyncSmsClient``.

Each is a typed signature, a docstring and one ``self._call(...)`` with its declaration from
``_operations``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from ._calls import OperationClient
from ._models import SurveyRequest
from ._models_batch import (
    BatchMessage,
    BatchRequest,
    BatchResponse,
    BatchTemplate,
    CancelResponse,
    SurveyBatchMessage,
    SurveyBatchRequest,
    SurveyTemplate,
)
from ._operations import CANCEL_BATCH, CANCEL_MESSAGE, DELETE_PII, SEND_BATCH, SEND_SURVEY_BATCH

__all__ = ["BatchMethods"]


class BatchMethods(OperationClient):
    """Send batches, cancel scheduled messages, delete a message's personal data."""

    async def send_batch(
        self,
        *,
        messages: Sequence[BatchMessage | Mapping[str, Any]] | None = None,
        destinations: Sequence[str] | None = None,
        template: BatchTemplate | Mapping[str, Any] | None = None,
        client_batch_id: str | None = None,
        include_messages_in_response: bool = False,
        client_ip: str | None = None,
        subaccount_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> BatchResponse:
        """Send up to 10,000 messages in one request.

        Give either ``messages`` (each its own text, or the template's) or ``destinations``
        (all get ``template.text``), not both: 8x8 would silently drop ``destinations``. A
        message 8x8 refuses is a result (``BatchResponse.rejected_messages``), not an exception.
        A batch whose outcome is unknown is never sent again (see ``SendOutcomeUnknownError``).

        Args:
            messages: The personal messages: ``BatchMessage`` objects or mappings of their
                fields (``{"destination": ..., "text": ...}``); each gets a generated
                ``client_message_id`` when it has none.
            destinations: Phone numbers that all get the template's text.
            template: What every message shares (``source``, ``text``, ``encoding``,
                ``scheduled``, ``expiry``, ``dlr_callback_url``); a message's own field wins.
            client_batch_id: Your reference for the batch, at most 20 characters; 20 random hex
                characters when omitted.
            include_messages_in_response: Whether 8x8 answers with one result per message.
            client_ip: The end user's IP, for 8x8's per-IP limit.
            subaccount_id: Overrides the client's subaccount.
            timeout: Overrides the client's timeout for this call.

        Returns:
            The batch's id, accepted and rejected counts, and (when asked) each message's result.

        Raises:
            ValidationError: An argument breaks a documented rule (the field names the item,
                e.g. ``messages[3].destination``); nothing was sent.
            SendOutcomeUnknownError: The connection failed after the request went out; its
                ``client_batch_id`` names the batch.
            APIStatusError: 8x8 answered with an error (subclass by status).
            APIConnectionError: The connection failed before anything was sent.
            ResponseValidationError: 8x8's answer did not have the documented shape.
        """
        return await self._call(
            SEND_BATCH,
            body=BatchRequest.build(
                messages=messages,
                destinations=destinations,
                template=template,
                client_batch_id=client_batch_id,
                include_messages_in_response=include_messages_in_response,
                client_ip=client_ip,
            ),
            subaccount_id=subaccount_id,
            timeout=timeout,
        )

    async def send_survey_batch(
        self,
        survey_id: str,
        *,
        messages: Sequence[SurveyBatchMessage | SurveyRequest | Mapping[str, Any]],
        template: SurveyTemplate | Mapping[str, Any] | None = None,
        client_batch_id: str | None = None,
        include_messages_in_response: bool = False,
        subaccount_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> BatchResponse:
        """Send up to 10,000 SMS Engage survey invitations in one request.

        Args:
            survey_id: The survey 8x8 created for you.
            messages: The invitations: ``SurveyBatchMessage`` objects or mappings of their
                fields; each gets a generated ``client_message_id`` when it has none.
            template: What every invitation shares; ``template_body`` holds the ``{{url:...}}``
                survey link.
            client_batch_id: Your reference for the batch, at most 20 characters; generated when
                omitted.
            include_messages_in_response: Whether 8x8 answers with one result per message.
            subaccount_id: Overrides the client's subaccount.
            timeout: Overrides the client's timeout for this call.

        Returns:
            The batch's id, counts and (when asked) each message's result.

        Raises:
            ValidationError: An argument breaks a documented rule; nothing was sent.
            SendOutcomeUnknownError: The connection failed after the request went out.
            APIStatusError: 8x8 answered with an error.
            APIConnectionError: The connection failed before anything was sent.
            ResponseValidationError: 8x8's answer did not have the documented shape.
        """
        return await self._call(
            SEND_SURVEY_BATCH,
            path={"survey_id": survey_id},
            body=SurveyBatchRequest.build(
                messages=messages,
                template=template,
                client_batch_id=client_batch_id,
                include_messages_in_response=include_messages_in_response,
            ),
            subaccount_id=subaccount_id,
            timeout=timeout,
        )

    async def cancel_message(
        self,
        umid: str,
        *,
        subaccount_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> CancelResponse:
        """Cancel a scheduled message that has not been sent yet.

        Args:
            umid: The message's id, from :meth:`send_sms`.
            subaccount_id: Overrides the client's subaccount.
            timeout: Overrides the client's timeout for this call.

        Returns:
            How many messages were cancelled (1).

        Raises:
            ValidationError: ``umid`` is not a usable id; nothing was sent.
            NotFoundError: No such scheduled message (already sent, or cancelled before).
            APIStatusError: 8x8 answered with another error.
            APIConnectionError: The connection failed.
            ResponseValidationError: 8x8's answer did not have the documented shape.
        """
        return await self._call(
            CANCEL_MESSAGE, path={"umid": umid}, subaccount_id=subaccount_id, timeout=timeout
        )

    async def cancel_batch(
        self,
        batch_id: str,
        *,
        subaccount_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> CancelResponse:
        """Cancel the messages of a scheduled batch that have not been sent yet.

        Args:
            batch_id: 8x8's id of the batch (``BatchResponse.batch_id``).
            subaccount_id: Overrides the client's subaccount.
            timeout: Overrides the client's timeout for this call.

        Returns:
            How many messages were cancelled.

        Raises:
            ValidationError: ``batch_id`` is not a usable id; nothing was sent.
            APIStatusError: 8x8 answered with an error.
            APIConnectionError: The connection failed.
            ResponseValidationError: 8x8's answer did not have the documented shape.
        """
        return await self._call(
            CANCEL_BATCH, path={"batch_id": batch_id}, subaccount_id=subaccount_id, timeout=timeout
        )

    async def delete_pii(
        self,
        umid: str,
        *,
        subaccount_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> None:
        """Ask 8x8 to delete a message's personal data (its number and text).

        8x8 accepts the request (HTTP 202) and deletes shortly after.

        Args:
            umid: The message's id.
            subaccount_id: Overrides the client's subaccount.
            timeout: Overrides the client's timeout for this call.

        Raises:
            ValidationError: ``umid`` is not a usable id; nothing was sent.
            NotFoundError: No such message for this subaccount (code 1300).
            APIStatusError: 8x8 answered with another error.
            APIConnectionError: The connection failed.
        """
        await self._call(
            DELETE_PII, path={"umid": umid}, subaccount_id=subaccount_id, timeout=timeout
        )
