"""One status line per step on stderr (bootstrap, the test stack's builds): what runs, then how long it took."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def step(what: str) -> Iterator[None]:
    print(f"… {what}", file=sys.stderr, flush=True)
    start = time.monotonic()
    try:
        yield
    except BaseException:
        print(f"✗ {what} ({time.monotonic() - start:.1f}s)", file=sys.stderr, flush=True)
        raise
    print(f"✓ {what} ({time.monotonic() - start:.1f}s)", file=sys.stderr, flush=True)
