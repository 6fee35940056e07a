"""Wrong API tokens per client address: after ``max_failures`` of them within ``window_s`` seconds, that address's
token attempts (Bearer, ``?token=``, the /login form) are answered 429 with ``Retry-After`` until the oldest of those
failures is ``window_s`` old; then it may try again.

Plain bookkeeping on the event loop: nothing waits or sleeps. The table is bounded: past ``max_clients`` addresses
the one seen least recently is forgotten (an address that keeps trying while locked out stays). IPv6 clients count
by their /64 network, the share one host usually gets, so cycling through its own addresses gains a client nothing.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import deque
from collections.abc import Callable

from cachetools import LRUCache

MAX_CLIENTS = 10_000


def client_key(host: str | None) -> str:
    """The address whose failures an attempt counts against."""
    if not host:
        return ""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class Lockout:
    """Counts failed attempts per client address over a sliding window."""

    def __init__(
        self,
        max_failures: int,
        window_s: float,
        *,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_clients = max_clients
        self.clock = clock
        self._failures: LRUCache[str, deque[float]] = LRUCache(maxsize=max_clients)

    def retry_after(self, client: str) -> int | None:
        """Whole seconds until ``client`` may try again (at least 1), or None when it may try now."""
        times = self._failures.get(client)
        if times is None or len(times) < self.max_failures:
            return None
        wait = times[0] + self.window_s - self.clock()
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, client: str) -> None:
        """Count a wrong token from ``client``."""
        times = self._failures.pop(client, None)
        if times is None:
            times = deque(maxlen=self.max_failures)
        times.append(self.clock())
        self._failures[client] = times  # past max_clients, the client seen longest ago is forgotten
