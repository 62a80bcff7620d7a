"""A local single-node Apache Kafka broker (KRaft) run from Maven Central jars.

    python -m consumers.broker start|stop|status [--port 9092] [--dir .cache/kafka]

The jars are fetched once with Maven into an ignored cache folder; the log directory
survives restarts so that a SIGKILLed broker comes back with every acknowledged write.
Nothing here is used when KAFKA_BOOTSTRAP_SERVERS names another cluster.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.24.3"  # the log4j2 version Kafka 4.1.1 is built against
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HOME = REPO_ROOT / ".cache" / "kafka"

POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{LOG4J_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{LOG4J_VERSION}</version></dependency>
  </dependencies>
</project>
"""

LOG4J2 = """Configuration:
  status: warn
  Appenders:
    File:
      name: file
      fileName: "${sys:kafka.logs.dir}/server.log"
      PatternLayout: {pattern: "[%d] %p %m (%c)%n"}
  Loggers:
    Root: {level: WARN, AppenderRef: [{ref: file}]}
    Logger:
      - {name: kafka.server.KafkaServer, level: INFO}
      - {name: kafka.server.BrokerServer, level: INFO}
"""


@dataclass(frozen=True)
class LocalBroker:
    """Paths and ports of one local broker; every path lives under `home`."""

    home: Path = DEFAULT_HOME
    port: int = 9092

    @property
    def jars(self) -> Path:
        return self.home.parent / f"kafka-jars-{KAFKA_VERSION}"

    @property
    def log_dir(self) -> Path:
        return self.home / "data"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def fetch_jars(self) -> float:
        """Download the broker's jars once; returns the seconds it took (0 when cached)."""
        marker = self.jars / ".complete"
        if marker.exists():
            return 0.0
        if shutil.which("mvn") is None:
            raise RuntimeError("Maven (mvn) fetches the Kafka jars: install it, or set KAFKA_BOOTSTRAP_SERVERS")
        start = time.monotonic()
        self.jars.mkdir(parents=True, exist_ok=True)
        (self.jars / "pom.xml").write_text(POM)
        subprocess.run(
            ["mvn", "-q", "-B", "-Dstyle.color=never", "dependency:copy-dependencies", "-DoutputDirectory=lib"],
            cwd=self.jars, check=True, stdout=sys.stderr,  # stdout may be a benchmark's JSON
        )
        (self.jars / "log4j2.yaml").write_text(LOG4J2)
        marker.touch()
        return time.monotonic() - start

    def _java(self, main: str, *args: str, heap: str = "512m") -> list[str]:
        return [
            "java", f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC", "-XX:TieredStopAtLevel=1",
            f"-Dlog4j2.configurationFile={self.jars / 'log4j2.yaml'}",
            f"-Dkafka.logs.dir={self.home / 'logs'}",
            "-cp", str(self.jars / "lib" / "*"), main, *args,
        ]

    def _write_config(self) -> Path:
        controller_port = self.port + 1
        config = self.home / "server.properties"
        config.write_text("\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={self.log_dir}",
            "num.partitions=3",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=3",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            # Acknowledged means on disk: a SIGKILL of the only broker must not lose an acked write.
            "log.flush.interval.messages=1",
            "message.max.bytes=4194304",
            "",
        ]))
        return config

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None

    def is_ready(self) -> bool:
        """True when the broker answers a metadata request."""
        with socket.socket() as s:  # cheap first: the client's own retries back off for seconds
            if s.connect_ex(("127.0.0.1", self.port)) != 0:
                return False
        try:
            from kafka import KafkaAdminClient
        except ImportError:  # without the client, an open port is the best we can tell
            return True
        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
        except Exception:
            return False
        try:
            admin.describe_cluster()
            return True
        except Exception:
            return False
        finally:
            admin.close()

    def start(self, timeout: float = 90.0) -> dict[str, float]:
        """Fetch, format (first time only) and start the broker; wait until it is ready."""
        timings = {"fetch_s": self.fetch_jars()}
        if self.pid() is not None:
            self._wait_ready(timeout)
            return timings
        start = time.monotonic()
        self.home.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        if not (self.log_dir / "meta.properties").exists():
            subprocess.run(
                self._java("kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c", str(config), heap="256m"),
                check=True, stdout=subprocess.DEVNULL,
            )
        (self.home / "logs").mkdir(exist_ok=True)
        with open(self.home / "logs" / "stdout.log", "ab") as out:
            proc = subprocess.Popen(self._java("kafka.Kafka", str(config)), stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.pid_file.write_text(str(proc.pid))
        self._wait_ready(timeout, proc)
        timings["start_s"] = time.monotonic() - start
        return timings

    def _wait_ready(self, timeout: float, proc: subprocess.Popen | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"Kafka broker exited with {proc.returncode}; see {self.home / 'logs'}")
            if self.is_ready():
                return
            time.sleep(0.3)
        raise TimeoutError(f"Kafka broker not ready on {self.bootstrap} after {timeout:.0f}s")

    def stop(self, kill: bool = False, timeout: float = 30.0) -> None:
        """SIGTERM (clean shutdown) or SIGKILL (crash) the broker and wait until it is gone."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
                # reap it when it is our child, so it does not linger as a zombie
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)


def free_port_pair() -> int:
    """A port p with p and p + 1 free: the broker and its controller listener (tests, benchmarks)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue
    raise RuntimeError("no two consecutive free ports on 127.0.0.1")


def _cluster_id() -> str:
    # Kafka wants a base64 UUID of 22 characters
    import base64

    while True:  # one id in 64 starts with "-", which StorageTool would read as an option (as Kafka's Uuid does)
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--port", type=int, default=int(os.environ.get("KAFKA_LOCAL_PORT", "9092")))
    parser.add_argument("--dir", type=Path, default=DEFAULT_HOME)
    args = parser.parse_args(argv)
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and args.command == "start":
        print(f"KAFKA_BOOTSTRAP_SERVERS={os.environ['KAFKA_BOOTSTRAP_SERVERS']}: not starting a local broker")
        return 0
    broker = LocalBroker(home=args.dir, port=args.port)
    if args.command == "start":
        timings = broker.start()
        print(f"Kafka {KAFKA_VERSION} ready on {broker.bootstrap} "
              + " ".join(f"{k}={v:.1f}" for k, v in timings.items()))
    elif args.command == "stop":
        broker.stop()
        print("Kafka stopped")
    else:
        pid = broker.pid()
        print(f"running (pid {pid}) on {broker.bootstrap}" if pid else "not running")
        return 0 if pid else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
