"""Run every benchmark and print its figures. Benchmarks arrive with the sync and payment work."""

BENCHMARKS: list = []

if __name__ == "__main__":
    if not BENCHMARKS:
        print("no benchmarks yet: the ledger sync and payment issues add them")
    for benchmark in BENCHMARKS:
        benchmark()
