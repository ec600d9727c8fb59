"""``python -m demo.service``: run checkout-api until SIGINT/SIGTERM."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

from demo.service.app import CheckoutService, DemoHTTPServer
from demo.service.config import config_from_args
from demo.service.logs import JsonLogger, LokiPusher
from demo.service.telemetry import Tracing


def main(argv: list[str] | None = None) -> int:
    config = config_from_args(argv)
    pusher = None
    if config.loki_url:
        labels = {"service_name": config.service_name, "environment": config.environment}
        pusher = LokiPusher(config.loki_url, labels)
        pusher.start()
    logger = JsonLogger(config.service_name, pusher=pusher)
    tracing = Tracing(config.otlp_endpoint, config.otlp_protocol)
    service = CheckoutService(config, tracing, logger)
    server = DemoHTTPServer((config.host, config.port), service)
    host, port = server.server_address[:2]
    logger.info("listening", host=str(host), port=int(port), commit=config.commit)

    def _stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if config.announce_startup:
        threading.Thread(target=service.announce, name="announce", daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        tracing.shutdown()
        if pusher is not None:
            pusher.stop()
        logger.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
