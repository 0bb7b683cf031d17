"""How a long-running process treats Python's cyclic garbage collector.

A worker's cache and a server's views are hundreds of thousands of long-lived
objects; Python's default (a young collection every 700 net allocations, the oldest
generation walked as it grows) keeps walking them: a quarter of the ingest's CPU in
process, and pauses of the event loop that show in a server's tail latency
(docs/operations.md, Issue 17: B1, B3).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

# The young generation collected every 50,000 net allocations; the older ones after
# 20 and 100 collections of the one below.
GC_THRESHOLDS = (50_000, 20, 100)


def collect_less() -> None:
    """What is loaded by now is never collected again (``gc.freeze``: start-up objects,
    the views or the cache as built), and the young generation is collected every
    :data:`GC_THRESHOLDS` allocations. Call it once the process's long-lived state is
    built."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    give_back()


def give_back() -> None:
    """Hand the memory the start freed (a first start's replay of every aggregate)
    back to the system: glibc's allocator keeps freed pages until told
    (``malloc_trim``); elsewhere nothing is done."""
    libc = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(libc), "malloc_trim", None) if libc else None
    if trim is not None:
        trim(0)
