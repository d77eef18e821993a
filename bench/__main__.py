"""Run every benchmark and print its figures (DESIGN section 6)."""

import asyncio
import logging

from bench import initial_sync

if __name__ == "__main__":
    logging.getLogger().setLevel(logging.WARNING)  # figures only, not the stack's chatter
    asyncio.run(initial_sync.main())
