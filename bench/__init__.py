"""duely's benchmarks (`make bench`): each figure printed beside a bare baseline."""
