"""A child process's peak memory, read the same way by every benchmark that starts one."""

from __future__ import annotations

import resource

__all__ = ["peak_rss_kib"]


def peak_rss_kib() -> int:
    """This process's peak RSS in KiB (``VmHWM``): ``ru_maxrss`` would carry the parent's over
    ``exec``, so a child started by a big driver would report the driver's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
