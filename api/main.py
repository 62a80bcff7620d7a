"""The API process: `python -m api.main --port 8000`.

Builds the service from settings, serves at once (so /healthz answers and /readyz reports the catch-up),
replays the log into the read model in the background, then follows it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

import uvicorn

from api.app import create_app
from bootstrap import build
from consumers.loop import configure_logging, freeze_long_lived
from models.settings import get_settings

log = logging.getLogger("api")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the matchmaking HTTP API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    configure_logging(args.log_level.upper())
    try:  # a setting that cannot work (a short ADMIN_API_KEY, an unknown ENCODER, a bad ranker model) stops the start
        settings = get_settings()
        if settings.admin_api_key is None:
            log.warning("ADMIN_API_KEY is not set: only keys issued earlier (events on the auth topic) work")
        container = build(settings)
    except ValueError as exc:
        sys.exit(f"cannot start: {exc}")
    def start() -> None:
        try:
            container.start()
        except Exception:  # a replica that cannot read the log would refuse writes and stay not ready for ever:
            log.exception("cannot catch up with the event log; stopping")  # stop, so that it is started again
            os.kill(os.getpid(), signal.SIGTERM)
            return
        freeze_long_lived()

    starter = threading.Thread(target=start, name="catch-up", daemon=True)
    starter.start()
    try:
        uvicorn.run(create_app(container), host=args.host, port=args.port, log_level=args.log_level)
    finally:
        starter.join(timeout=5)
        container.stop()


if __name__ == "__main__":
    main()
