"""docker-compose.yml is validated without a Docker engine (the compose client only)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _validator() -> list[str]:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("no compose client: .ci/run installs Debian's docker-compose")


def _check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*_validator(), "-f", str(path), "config", "-q"],
        capture_output=True,
        text=True,
        env={"ADMIN_API_KEY": "x" * 32, "ALERTS_SIGNING_SECRET": "y" * 32, "PATH": "/usr/bin:/bin:/usr/local/bin"},
        cwd=ROOT,
    )


def test_compose_file_is_valid():
    result = _check(ROOT / "docker-compose.yml")
    assert result.returncode == 0, result.stderr


def test_validator_catches_a_misspelled_key(tmp_path):
    broken = (ROOT / "docker-compose.yml").read_text().replace("condition: service_healthy", "condition: healthy_pls")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    path = tmp_path / "docker-compose.yml"
    path.write_text(broken)
    assert _check(path).returncode != 0


def test_compose_runs_every_long_running_process_the_service_needs():
    # the deal alerts stay silent without the alerter and the webhook worker, so they belong next to the API
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    modules = {s["command"][2] for s in services.values() if s.get("command", [None])[0] == "python"}
    assert modules == {"consumers.embedder", "consumers.alerts", "consumers.webhooks", "api.main"}
    for name in ("api", "webhooks"):  # the API shows recipients their secret; the worker signs with it
        assert "ALERTS_SIGNING_SECRET" in services[name]["environment"]


def test_every_setting_the_readme_documents_reaches_the_containers_that_read_it():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"`([A-Z_]{4,})`", "\n".join(
        line.split(" | ")[0] for line in readme.splitlines() if line.startswith("| `"))))
    local_only = {"RANKER_MODEL_PATH", "SNAPSHOT_DIR"}  # a file and a directory: mounted per deployment
    for name in ("embedder", "alerter", "webhooks", "api"):
        passed = set(services[name]["environment"])
        assert documented - local_only - {"ADMIN_API_KEY", "ALERTS_SIGNING_SECRET"} <= passed, name


def test_the_image_runs_as_a_user_that_owns_where_snapshots_go():
    # no engine here to build it: check the Dockerfile says so, and that every volume is mounted where it owns
    lines = [line.split() for line in (ROOT / "Dockerfile").read_text().splitlines() if line and line[0] != "#"]
    users = [words[1] for words in lines if words[0] == "USER"]
    assert users and users[-1] not in ("root", "0")
    owned = next(" ".join(words) for words in lines if words[0] == "RUN" and "chown" in words)
    assert f"chown {users[-1]}:{users[-1]} /data" in owned
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    mounts = {m.split(":")[1] for name in ("embedder", "alerter", "webhooks", "api")
              for m in services[name].get("volumes", [])}
    assert mounts <= {"/data"}
