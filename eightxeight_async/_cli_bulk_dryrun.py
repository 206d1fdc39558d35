"""``eightxeight bulk --dry-run``: every row checked, SMS parts counted, the cost estimated.

Nothing is sent and no journal is written. Parts follow 8x8's rules (``_segments``: GSM7 or UCS2,
escape and surrogate pairs never split, the 10-part cut). The cost needs the price list
(``get_prices``, so an account id and the API key): each row's parts times the per-part price of
its country, as a range from the country's cheapest operator to its dearest, since which operator
carries a number is not known before sending.
"""

from __future__ import annotations

import os
from collections import defaultdict
from decimal import Decimal
from typing import Any

import attrs

from . import _cli_errors as errs
from . import _cli_options as opts
from ._cli_bulk_columns import FileProblem
from ._cli_bulk_csv import BadRow, RowReader
from ._cli_bulk_view import UPDATE_EVERY, Tally, View, conclude, data_lines, plural, report_writer
from ._cli_errors import CliError
from ._cli_options import Settings
from ._config import ENV_ACCOUNT_ID
from ._errors import EightXEightError
from ._models_account import PriceList
from ._models_batch import BatchMessage
from ._segments import count_segments

__all__ = ["Estimate", "dry_run"]


# --- the estimate --------------------------------------------------------------------------------


@attrs.define
class Estimate:
    """``--dry-run``: the parts each row needs and, with the price list, what they would cost."""

    prices: dict[str, tuple[Decimal, Decimal, str]] = attrs.Factory(dict)
    """Per-part price range and currency by dialing prefix (digits) and by country code."""
    rows: int = 0
    parts: int = 0
    encodings: dict[str, int] = attrs.Factory(lambda: defaultdict(int))
    long_rows: int = 0
    """Rows needing more than one part."""
    cut_rows: int = 0
    """Rows longer than ten parts hold (8x8 cuts them)."""
    unpriced: int = 0
    """Rows whose country has no price in the list."""
    low: dict[str, Decimal] = attrs.Factory(lambda: defaultdict(Decimal))
    high: dict[str, Decimal] = attrs.Factory(lambda: defaultdict(Decimal))

    def use_prices(self, prices: PriceList, subaccount_id: str | None) -> None:
        """Index the outbound prices of the subaccount (of any, when it is not listed)."""
        subaccounts = [s for s in prices.subaccounts if s.subaccount_id == subaccount_id]
        for subaccount in subaccounts or prices.subaccounts:
            for country in subaccount.outbound:
                amounts = [op.price for op in country.operators if op.price is not None]
                if not amounts:
                    continue
                currency = amounts[0].currency
                values = [a.amount for a in amounts if a.currency == currency]
                entry = (min(values), max(values), currency)
                self.prices.setdefault(country.alpha2_code.upper(), entry)
                prefix = (country.dialing_prefix or "").lstrip("+")
                if prefix.isdigit():
                    self.prices.setdefault(prefix, entry)

    @property
    def priced(self) -> bool:
        """Whether a price list was read."""
        return bool(self.prices)

    def add(self, message: BatchMessage) -> None:
        """Count one valid row."""
        assert message.text is not None
        info = count_segments(message.text, str(getattr(message.encoding, "value", "AUTO")))
        self.rows += 1
        self.parts += info.parts
        self.encodings[info.encoding] += 1
        self.long_rows += info.parts > 1
        self.cut_rows += info.truncated
        if self.prices:
            price = self._price_of(message)
            if price is None:
                self.unpriced += 1
            else:
                low, high, currency = price
                self.low[currency] += low * info.parts
                self.high[currency] += high * info.parts

    def _price_of(self, message: BatchMessage) -> tuple[Decimal, Decimal, str] | None:
        if message.country is not None:
            return self.prices.get(message.country.upper())
        digits = message.destination.lstrip("+")
        for length in range(min(4, len(digits)), 0, -1):  # dialing prefixes have 1 to 4 digits
            found = self.prices.get(digits[:length])
            if found is not None:
                return found
        return None

    def cost(self) -> dict[str, dict[str, str]]:
        """The cost range per currency, as strings (exact decimals)."""
        return {
            currency: {"low": str(self.low[currency]), "high": str(self.high[currency])}
            for currency in sorted(self.low)
        }

    def document(self) -> dict[str, Any]:
        """The estimate for ``--json``."""
        return {
            "parts": self.parts,
            "encodings": dict(sorted(self.encodings.items())),
            "rows_over_one_part": self.long_rows,
            "rows_cut_at_ten_parts": self.cut_rows,
            "cost": self.cost() if self.priced else None,
            "rows_without_price": self.unpriced if self.priced else None,
        }


# --- the dry run ---------------------------------------------------------------------------------


def dry_run(settings: Settings, reader: RowReader, options: dict[str, Any], view: View) -> None:
    """Check every row of ``reader``, print the counts and the estimate, send nothing.

    Raises:
        CliError: Exit 3 when a row is invalid (after the summary), 1 when the file cannot be read.
    """
    estimate = Estimate()
    prices_note = _read_prices(settings, options, estimate)
    report = report_writer(options["report"])
    tally = Tally(total=data_lines(reader), dry_run=True)
    view.start(tally)
    try:
        for item in reader:
            tally.read += 1
            if isinstance(item, BadRow):
                tally.invalid += 1
                view.note(item.line, item.reason)
                if report is not None:
                    report.add_bad(item)
            else:
                tally.accepted += 1
                estimate.add(item.message)
            if tally.read % UPDATE_EVERY == 0:
                view.update(tally)
        tally.total, tally.exact = tally.read, True
    except BaseException as exc:  # Ctrl-C included: leave no half-written report behind
        if report is not None:
            report.discard()
        if isinstance(exc, FileProblem):
            raise CliError(errs.EXIT_LOCAL, exc.message) from None
        raise
    finally:
        view.stop(tally)
        reader.close()
    written = report.finish() if report is not None else None
    document = {
        "dry_run": True,
        "file": reader.path,
        "rows": tally.read,
        "valid": tally.accepted,
        "invalid": tally.invalid,
        **estimate.document(),
        "report": None if report is None else {"path": report.path, "rows": written},
    }
    lines = [
        ("rows", f"{tally.read:,} in {reader.path}"),
        ("valid", f"{tally.accepted:,}"),
        ("invalid", f"{tally.invalid:,}" + (" (would not be sent)" if tally.invalid else "")),
        ("parts", _parts_line(estimate)),
        ("cost", _cost_line(estimate, prices_note)),
    ]
    if report is not None:
        lines.append(("report", f"{report.path} ({plural(written or 0, 'row')})"))
    failure = None
    if tally.invalid:
        failure = CliError(
            errs.EXIT_VALIDATION,
            f"{tally.invalid:,} row(s) of {reader.path} are invalid: they would not be sent.",
            document=document,
        )
    conclude(settings, "Dry run: nothing was sent.", lines, document, failure)


def _parts_line(estimate: Estimate) -> str:
    encodings = ", ".join(
        f"{name} {plural(count, 'row')}" for name, count in sorted(estimate.encodings.items())
    )
    text = f"{estimate.parts:,}" + (f" ({encodings})" if encodings else "")
    if estimate.long_rows:
        text += f"; {plural(estimate.long_rows, 'row')} over one part"
    if estimate.cut_rows:
        text += f"; {estimate.cut_rows:,} longer than 10 parts (8x8 cuts them)"
    return text


def _cost_line(estimate: Estimate, prices_note: str | None) -> str:
    if not estimate.priced:
        return prices_note or "not estimated"
    costs = estimate.cost()
    text = (
        "; ".join(
            f"{c['low']} {currency}"
            if c["low"] == c["high"]
            else f"{c['low']} to {c['high']} {currency}"
            for currency, c in costs.items()
        )
        or "0"
    )
    if estimate.unpriced:
        text += f" (+ {estimate.unpriced:,} row(s) to countries without a price)"
    return text


def _read_prices(settings: Settings, options: dict[str, Any], estimate: Estimate) -> str | None:
    """Read the price list into ``estimate``; say why not when it cannot be read."""
    account = options["account_id"] or os.environ.get(ENV_ACCOUNT_ID) or None
    if account is None or settings.api_key is None:
        return f"not estimated: set --account-id ({ENV_ACCOUNT_ID}) and the API key to price it"

    async def fetch() -> Any:
        async with settings.client() as client:
            return await client.with_options(account_id=account).get_prices(direction="outbound")

    try:
        prices = opts.run_async(fetch())
    except (CliError, EightXEightError) as exc:
        reason = exc.message if isinstance(exc, CliError) else errs.clean(str(exc))
        return f"not estimated: the price list could not be read ({reason})"
    estimate.use_prices(prices, settings.subaccount_id)
    return None
