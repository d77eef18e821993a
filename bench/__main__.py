"""Run every benchmark and print its figures (DESIGN section 6)."""

import asyncio
import logging

from bench import chase_fan_out, initial_sync, quickbooks_sync, webhook_to_ledger

if __name__ == "__main__":
    for chatty in ("", "httpx", "alembic"):  # figures only, not the stack's chatter
        logging.getLogger(chatty).setLevel(logging.WARNING)
    asyncio.run(initial_sync.main())
    asyncio.run(quickbooks_sync.main())
    asyncio.run(chase_fan_out.main())
    asyncio.run(webhook_to_ledger.main())
