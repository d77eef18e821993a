"""Documents the ledger keeps for an invoice: its PDF, fetched when the customer asks for it
on the payment page (duely stores no copy), and its online page, which reminders can link."""

from __future__ import annotations

import asyncio
import logging

from sqlmodel import col, update

from duely.core.db import Database
from duely.integrations.ledgers.base import LedgerError
from duely.integrations.ledgers.connections import Ledgers
from duely.models import Connection, Invoice

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


async def with_online_links(
    db: Database, ledgers: Ledgers, invoices: list[Invoice]
) -> list[Invoice]:
    """Each invoice with the ledger's own page of it (`online_url`), fetched once and kept.
    One the ledger has no page for, or cannot give now, goes without: a reminder never waits
    for it."""
    connections: dict[int, Connection | None] = {}
    for invoice in invoices:
        if invoice.online_url or invoice.connection_id is None or not invoice.external_id:
            continue
        if invoice.connection_id not in connections:
            async with db.session() as session:
                connections[invoice.connection_id] = await session.get(
                    Connection, invoice.connection_id
                )
        connection = connections[invoice.connection_id]
        if connection is None:
            continue
        try:
            async with asyncio.timeout(PDF_SECONDS):
                url = await ledgers.open(connection).online_invoice_url(invoice.external_id)
        except (LedgerError, NotImplementedError, TimeoutError) as none:
            log.info("no online invoice for %s: %s", invoice.number, none)
            continue
        invoice.online_url = url
        async with db.session() as session:
            await session.exec(
                update(Invoice).where(col(Invoice.id) == invoice.id).values(online_url=url)
            )
            await session.commit()
    return invoices
