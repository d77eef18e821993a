"""Run every benchmark and print its figures (DESIGN section 6)."""

import asyncio

from bench import initial_sync

if __name__ == "__main__":
    asyncio.run(initial_sync.main())
