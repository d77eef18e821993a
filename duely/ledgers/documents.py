"""Documents the ledger keeps for an invoice: its PDF, fetched when the customer asks for it
on the payment page (duely stores no copy)."""

from __future__ import annotations

import asyncio
import logging

from duely.integrations.ledgers.base import LedgerError
from duely.integrations.ledgers.connections import Ledgers
from duely.models import Connection

log = logging.getLogger(__name__)

PDF_SECONDS = 20
"""How long a PDF download waits for the ledger (its rate limiter included)."""


class NoPdfs(Exception):
    """duely cannot fetch PDFs from this kind of ledger (yet)."""


async def invoice_pdf(ledgers: Ledgers, connection: Connection, external_id: str) -> bytes:
    """The invoice's PDF as the ledger renders it, or b"" when the ledger did not hand it over
    in time (down, refused, slow): worth asking again later. Raises NoPdfs when it never can."""
    try:
        async with asyncio.timeout(PDF_SECONDS):
            pdf = await ledgers.open(connection).invoice_pdf(external_id)
    except NotImplementedError as never:
        raise NoPdfs(str(never)) from never
    except (LedgerError, TimeoutError) as error:
        log.warning("could not fetch the PDF of %s from the ledger: %s", external_id, error)
        return b""
    return pdf if pdf.startswith(b"%PDF") else b""
