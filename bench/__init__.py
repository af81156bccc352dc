"""streamkit's benchmarks: decode throughput, operator overhead, end to end, memory.

Speed and memory targets live here, never in timed unit tests. Machines are shared and noisy, so
each benchmark reports, next to its raw measurements, ratios measured in the same run against a
baseline (the official SDKs, bare reactivex, a naive split). Run them with ``make bench`` or
``python -m bench.run [--quick] [--json PATH]``.
"""
