"""Run the benchmarks, print one table of figures beside their baselines and write them to
bench/out/results.json (DESIGN section 6). `python -m bench [name ...]` runs only those named;
`BENCH_SCALE=small` runs each on small numbers."""

import asyncio
import importlib
import logging
import os
import sys
import time

from bench.results import Figure, scale_from_env, table, write

BENCHMARKS = {
    "engine": "bench.engine_rate",
    "sync": "bench.initial_sync",
    "quickbooks": "bench.quickbooks_sync",
    "fan_out": "bench.chase_fan_out",
    "webhooks": "bench.webhook_to_ledger",
    "dashboard": "bench.dashboard",
    "wakeup": "bench.mass_wakeup",
    "memory": "bench.worker_memory",
}


def main(names: list[str]) -> None:
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        raise SystemExit(
            f"no benchmark named {', '.join(unknown)}: pick from {', '.join(BENCHMARKS)}"
        )
    scale = scale_from_env()
    figures: list[Figure] = []
    for name in names or list(BENCHMARKS):
        started = time.perf_counter()
        module = importlib.import_module(BENCHMARKS[name])
        measured = asyncio.run(module.measure(scale))
        figures += measured
        print(f"[{name}: {time.perf_counter() - started:.0f} s]", flush=True)
        print(table(measured), flush=True)
    print(f"\nevery figure ({scale.name} scale):")
    print(table(figures))
    print(f"written to {write(figures)}")


if __name__ == "__main__":
    for chatty in ("", "httpx", "alembic"):  # figures only, not the stack's chatter
        logging.getLogger(chatty).setLevel(logging.WARNING)
    main(sys.argv[1:])
    # Every figure is written. Leave without interpreter finalization: a Temporal core thread
    # still winding down can call into a finalizing interpreter and abort it (seen once at
    # the end of the engine benchmark: "PyGILState_Release ... finalizing", exit -6).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
