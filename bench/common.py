"""Shared pieces of the benchmarks: a broker to run against, percentiles, and the JSON row shape."""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from consumers.broker import REPO_ROOT, LocalBroker

BENCH_PORT = 19392


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def bench_broker() -> tuple[str, LocalBroker | None]:
    """KAFKA_BOOTSTRAP_SERVERS if set, else a local broker of the benchmarks' own (stopped by the caller)."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return os.environ["KAFKA_BOOTSTRAP_SERVERS"], None
    broker = LocalBroker(home=REPO_ROOT / ".cache" / "kafka-bench", port=BENCH_PORT)
    progress(f"starting a local broker on {broker.bootstrap}")
    broker.start()
    return broker.bootstrap, broker


def latency_row(name: str, seconds: Sequence[float], **extra: object) -> dict:
    ms = np.asarray(seconds) * 1000.0
    return {"name": name, "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3), "samples": len(ms), **extra}


def emit(benchmark: str, rows: list[dict], **meta: object) -> None:
    """Print the one JSON object a benchmark produces."""
    print(json.dumps({"benchmark": benchmark, "at": datetime.now(UTC).isoformat(timespec="seconds"),
                      "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
                      **meta, "rows": rows}, ensure_ascii=False, indent=1))
