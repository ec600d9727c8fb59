"""A bounded load generator for the demo checkout service.

Sends ``POST /checkout`` at a fixed rate from a small thread pool and stops by itself after
``--duration`` seconds or ``--max-requests`` requests, whichever comes first (``--duration 0``
means no time limit, for the compose stack; the request cap still applies unless it is 0 too).
Only ever point it at a service you run yourself.

    python demo/loadgen.py --url http://127.0.0.1:8000 --rps 10 --duration 60
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor


def _hit(url: str, timeout: float) -> str:
    req = urllib.request.Request(url, data=b"{}", method="POST")  # noqa: S310 - our own service
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            resp.read()
            return str(resp.status)
    except urllib.error.HTTPError as exc:
        return str(exc.code)
    except (urllib.error.URLError, OSError):
        return "conn_error"


def run(
    url: str,
    *,
    rps: float,
    duration: float,
    max_requests: int,
    concurrency: int = 8,
    timeout: float = 5.0,
    stop: threading.Event | None = None,
) -> Counter[str]:
    """Fire requests at ``rps``; returns status -> count. Bounded by duration/max_requests/stop."""
    target = url.rstrip("/") + "/checkout"
    stop = stop or threading.Event()
    results: Counter[str] = Counter()
    lock = threading.Lock()
    interval = 1.0 / rps
    started = time.monotonic()
    sent = 0

    def one() -> None:
        status = _hit(target, timeout)
        with lock:
            results[status] += 1

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        while not stop.is_set():
            if max_requests and sent >= max_requests:
                break
            if duration and time.monotonic() - started >= duration:
                break
            pool.submit(one)
            sent += 1
            next_at = started + sent * interval
            stop.wait(max(0.0, next_at - time.monotonic()))  # paces the rate; wakes on stop
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--url", default=os.environ.get("LOADGEN_URL", "http://127.0.0.1:8000"))
    p.add_argument("--rps", type=float, default=float(os.environ.get("LOADGEN_RPS", "10")))
    p.add_argument(
        "--duration", type=float, default=float(os.environ.get("LOADGEN_DURATION", "60"))
    )
    p.add_argument(
        "--max-requests", type=int, default=int(os.environ.get("LOADGEN_MAX_REQUESTS", "100000"))
    )
    p.add_argument("--concurrency", type=int, default=8)
    ns = p.parse_args(argv)
    if ns.rps <= 0 or ns.rps > 200:
        p.error("--rps must be in (0, 200]")
    if not ns.duration and not ns.max_requests:
        p.error("set --duration or --max-requests: the load must be bounded")
    counts = run(
        ns.url,
        rps=ns.rps,
        duration=ns.duration,
        max_requests=ns.max_requests,
        concurrency=ns.concurrency,
    )
    print(" ".join(f"{k}={v}" for k, v in sorted(counts.items())), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
