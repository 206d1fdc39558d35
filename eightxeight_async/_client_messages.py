"""The message methods of ``AsyncSmsClient``: sending, surveys, details and feedback.

Each is a typed signature, a docstring and one ``self._call(...)`` with its declaration from
``_operations``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime

import httpx

from ._calls import OperationClient
from ._models import (
    Encoding,
    FeedbackRequest,
    MessageDetails,
    Outcome,
    SmsRequest,
    SmsResponse,
    SurveyRequest,
    Track,
)
from ._operations import GET_MESSAGE, SEND_FEEDBACK, SEND_SMS, SEND_SURVEY

__all__ = ["MessageMethods", "new_client_message_id"]


def new_client_message_id() -> str:
    """A fresh ``clientMessageId``: 128 random bits as 32 hex characters.

    Generated for every send that has none, so that an unknown outcome can always be looked up.
    """
    # os.urandom, as uuid4 uses, without building a UUID object.
    return os.urandom(16).hex()


class MessageMethods(OperationClient):
    """Send an SMS or a survey, read a message's details, report its outcome."""

    async def send_sms(
        self,
        *,
        destination: str,
        text: str,
        country: str | None = None,
        source: str | None = None,
        client_message_id: str | None = None,
        encoding: Encoding | str | None = None,
        scheduled: datetime | None = None,
        expiry: datetime | None = None,
        dlr_callback_url: str | None = None,
        client_ip: str | None = None,
        track: Track | str | None = None,
        subaccount_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> SmsResponse:
        """Send one SMS.

        Args:
            destination: The phone number, international (``+`` optional) or national with
                ``country``.
            text: The message text.
            country: ISO 3166-1 alpha-2 code, to convert a national number.
            source: The sender id, at most 16 characters.
            client_message_id: Your reference (at most 350 characters); generated when omitted,
                so that an unknown outcome can always be looked up.
            encoding: ``AUTO`` (8x8's default), ``GSM7`` or ``UCS2``.
            scheduled: When to deliver; timezone-aware, at most 7 days ahead.
            expiry: When to give up if not yet sent; timezone-aware, in the future.
            dlr_callback_url: Where 8x8 posts the delivery receipt.
            client_ip: The end user's IP, for 8x8's per-IP limit.
            track: ``"Outcome"`` to track conversion (then call :meth:`send_feedback`).
            subaccount_id: Overrides the client's subaccount.
            timeout: Overrides the client's timeout for this call.

        Returns:
            The accepted message; check ``rejected`` (8x8 can refuse in an HTTP 200).

        Raises:
            ValidationError: An argument breaks a documented rule; nothing was sent.
            SendOutcomeUnknownError: The connection failed after the request went out.
            APIStatusError: 8x8 answered with an error (subclass by status).
            APIConnectionError: The connection failed before anything was sent.
            ResponseValidationError: 8x8's answer did not have the documented shape.
        """
        request = SmsRequest(
            destination=destination,
            text=text,
            country=country,
            source=source,
            client_message_id=client_message_id or new_client_message_id(),
            encoding=encoding,
            scheduled=scheduled,
            expiry=expiry,
            dlr_callback_url=dlr_callback_url,
            client_ip=client_ip,
            track=track,
        )
        return await self._call(
            SEND_SMS, body=request, subaccount_id=subaccount_id, timeout=timeout
        )

    async def send_survey(
        self,
        survey_id: str,
        *,
        destination: str,
        country: str | None = None,
        template_body: str | None = None,
        template_variables: Mapping[str, str | int | float | bool] | None = None,
        source: str | None = None,
        client_message_id: str | None = None,
        encoding: Encoding | str | None = None,
        scheduled: datetime | None = None,
        expiry: datetime | None = None,
        dlr_callback_url: str | None = None,
        subaccount_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> SmsResponse:
        """Send one SMS Engage survey invitation.

        Args:
            survey_id: The survey 8x8 created for you.
            destination: The phone number.
            country: ISO 3166-1 alpha-2 code (exactly 2 letters).
            template_body: The text, holding ``{{url:}}`` (the survey link); the survey's own
                template when omitted.
            template_variables: Values for the template's variables.
            source: The sender id, at most 16 characters.
            client_message_id: Your reference; generated when omitted.
            encoding: ``AUTO``, ``GSM7`` or ``UCS2``.
            scheduled: When to deliver; timezone-aware, at most 7 days ahead.
            expiry: When to give up; timezone-aware, in the future.
            dlr_callback_url: Where 8x8 posts the delivery receipt.
            subaccount_id: Overrides the client's subaccount.
            timeout: Overrides the client's timeout for this call.

        Returns:
            The accepted message; check ``rejected``.

        Raises:
            ValidationError: An argument breaks a documented rule; nothing was sent.
            SendOutcomeUnknownError: The connection failed after the request went out.
            APIStatusError: 8x8 answered with an error.
            APIConnectionError: The connection failed before anything was sent.
            ResponseValidationError: 8x8's answer did not have the documented shape.
        """
        request = SurveyRequest(
            destination=destination,
            country=country,
            template_body=template_body,
            template_variables=template_variables,
            source=source,
            client_message_id=client_message_id or new_client_message_id(),
            encoding=encoding,
            scheduled=scheduled,
            expiry=expiry,
            dlr_callback_url=dlr_callback_url,
        )
        return await self._call(
            SEND_SURVEY,
            path={"survey_id": survey_id},
            body=request,
            subaccount_id=subaccount_id,
            timeout=timeout,
        )

    async def get_message(
        self,
        umid: str,
        *,
        subaccount_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> MessageDetails:
        """Fetch the details and delivery status of one message.

        8x8 allows 1 request per second per subaccount here; the client waits its turn rather
        than collect 429s. Timeouts and disconnects are retried: reading is harmless.

        Args:
            umid: The message's id, from :meth:`send_sms`.
            subaccount_id: Overrides the client's subaccount.
            timeout: Overrides the client's timeout for this call.

        Returns:
            The message's details (``msisdn`` and ``body`` masked by 8x8).

        Raises:
            ValidationError: ``umid`` is empty; nothing was sent.
            NotFoundError: No such message for this subaccount (code 1300).
            APIStatusError: 8x8 answered with another error.
            APIConnectionError: The connection failed.
            ResponseValidationError: 8x8's answer did not have the documented shape.
        """
        return await self._call(
            GET_MESSAGE, path={"umid": umid}, subaccount_id=subaccount_id, timeout=timeout
        )

    async def send_feedback(
        self,
        umid: str,
        *,
        outcome: Outcome | str,
        timestamp: datetime | None = None,
        subaccount_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> None:
        """Tell 8x8 whether a tracked message did its job (e.g. the OTP was entered).

        Call it within 15 minutes of the send, for messages sent with ``track="Outcome"``.

        Args:
            umid: The message's id, from :meth:`send_sms`.
            outcome: ``"success"`` or ``"failure"``.
            timestamp: When the action happened; timezone-aware.
            subaccount_id: Overrides the client's subaccount.
            timeout: Overrides the client's timeout for this call.

        Raises:
            ValidationError: An argument breaks a documented rule; nothing was sent.
            APIStatusError: 8x8 answered with an error.
            APIConnectionError: The connection failed.
        """
        request = FeedbackRequest(outcome=outcome, timestamp=timestamp)
        await self._call(
            SEND_FEEDBACK,
            path={"umid": umid},
            body=request,
            subaccount_id=subaccount_id,
            timeout=timeout,
        )
