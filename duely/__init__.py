"""duely: an open-source accounts-receivable collections engine."""

import zoneinfo

__version__ = "0.1.0"

# Zones come from the pinned tzdata package only, never the system's database: workflows turn
# local days into instants, and a replay must not change its mind after an OS update.
zoneinfo.reset_tzpath(to=())
