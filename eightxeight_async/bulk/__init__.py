"""Bulk sending that survives crashes: ``send_many``'s results, its journal, reconciliation.

``AsyncSmsClient.send_many`` sends any number of messages as batch requests; with a
:class:`Journal`, a rerun of the same job resumes it without sending any row twice, and
:func:`reconcile` resolves the rows whose outcome a crash or a timeout left unknown, from 8x8's
log export.

Example::

    from eightxeight_async.bulk import Journal, RowState, reconcile

    with Journal("sale.journal") as journal:
        async for result in client.send_many(rows, job_id="spring-sale", journal=journal):
            ...
        report = await reconcile(client, journal, "spring-sale")

Delivery receipts land on the journal's rows through :meth:`Journal.receipt_handler`, a handler
for :class:`~eightxeight_async.webhooks.WebhookReceiver` (in the process that sends, or in
another one that opens ``Journal(path, receipts_only=True)``); :meth:`Journal.delivery_summary`
counts them::

    receiver = WebhookReceiver(journal.receipt_handler(), authorization=SECRET)
    ...
    print(journal.delivery_summary("spring-sale"))  # DeliverySummary(delivered=..., ...)
"""

from ._job import BulkRun
from ._journal import Journal
from ._reconcile import reconcile
from ._results import (
    BulkResult,
    DeliverySummary,
    InputChangedError,
    InvalidRow,
    JobInfo,
    JournalBusyError,
    JournalError,
    ReconcileReport,
    RowState,
)

__all__ = [
    "BulkResult",
    "BulkRun",
    "DeliverySummary",
    "InputChangedError",
    "InvalidRow",
    "JobInfo",
    "Journal",
    "JournalBusyError",
    "JournalError",
    "ReconcileReport",
    "RowState",
    "reconcile",
]

for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
