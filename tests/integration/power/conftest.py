"""Real telemetry components for the power tests: NUT upsd + dummy-ups, Mosquitto, a pty."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import tty
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

NUT_DIR = Path("/lib/nut")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


@dataclass
class Nut:
    """A private upsd with one dummy-ups UPS named ``ups`` playing a .seq (or .dev) file."""

    root: Path
    port: int
    env: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"nut://127.0.0.1:{self.port}/ups"

    def start_driver(self) -> None:
        self.procs["driver"] = subprocess.Popen(
            [str(NUT_DIR / "dummy-ups"), "-a", "ups", "-u", "root", "-F"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not any(p.name.startswith("dummy-ups-ups") for p in (self.root / "state").iterdir()):
            if time.monotonic() > deadline:
                raise RuntimeError("dummy-ups did not start")
            time.sleep(0.05)

    def start_upsd(self) -> None:
        self.procs["upsd"] = subprocess.Popen(
            [str(NUT_DIR / "upsd"), "-u", "root", "-F"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)

    def upsc(self, var: str) -> str:
        return subprocess.run(
            ["upsc", f"ups@127.0.0.1:{self.port}", var], capture_output=True, text=True, check=False
        ).stdout.strip()

    def pause(self, name: str) -> None:
        os.kill(self.procs[name].pid, signal.SIGSTOP)

    def resume(self, name: str) -> None:
        os.kill(self.procs[name].pid, signal.SIGCONT)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.fixture
def nut(tmp_path: Path) -> Iterator[Any]:
    """Start a private NUT server whose UPS plays ``script`` (``.seq`` lines); returns a Nut."""
    if not (NUT_DIR / "upsd").exists():
        pytest.fail(
            "NUT is not installed: apt-get install -y nut-server nut-client (scripts/test does)"
        )
    started: list[Nut] = []

    def start(script: str, *, kind: str = "seq") -> Nut:
        root = tmp_path / f"nut{len(started)}"
        (root / "etc").mkdir(parents=True)
        (root / "state").mkdir()
        os.chmod(root / "state", 0o700)
        port = free_port()
        (root / "etc" / "nut.conf").write_text("MODE=standalone\n")
        (root / "etc" / f"demo.{kind}").write_text(script)
        (root / "etc" / "ups.conf").write_text(
            f'[ups]\n  driver = dummy-ups\n  port = demo.{kind}\n  desc = "test UPS"\n'
        )
        (root / "etc" / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {port}\nMAXAGE 5\n")
        (root / "etc" / "upsd.users").write_text("")
        os.chmod(root / "etc" / "upsd.users", 0o600)
        env = {
            **os.environ,
            "NUT_CONFPATH": str(root / "etc"),
            "NUT_STATEPATH": str(root / "state"),
        }
        server = Nut(root, port, env)
        started.append(server)
        server.start_driver()
        server.start_upsd()
        first = [
            line.split(":")[0] for line in script.split("TIMER")[0].splitlines() if ":" in line
        ]
        deadline = time.monotonic() + 10
        while not all(server.upsc(name) for name in first):  # the first block is served
            if time.monotonic() > deadline:
                raise RuntimeError("upsd does not serve the UPS's first values")
            time.sleep(0.1)
        return server

    yield start
    for server in started:
        server.stop()


@dataclass
class Broker:
    port: int
    config: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def publish(self, topic: str, payload: str, *, retain: bool = False) -> None:
        publish(topic, payload, port=self.port, retain=retain)


def publish(topic: str, payload: str, *, port: int = 1883, retain: bool = False) -> None:
    args = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-m", payload]
    if retain:
        args.append("-r")
    subprocess.run(args, check=True, timeout=10)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A private Mosquitto on a free loopback port (so a test can kill and restart it)."""
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    broker = Broker(port, config)
    broker.start()
    yield broker
    broker.kill()


@pytest.fixture
def topic() -> str:
    """A unique topic prefix, so tests on the shared broker never see each other's messages."""
    return f"microhub-test/{uuid.uuid4().hex}"


@pytest.fixture
def shared_broker_port() -> int:
    """The machine's Mosquitto on 127.0.0.1:1883 (started by scripts/test)."""
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", 1883)) != 0:
            pytest.fail("Mosquitto is not running on 127.0.0.1:1883 (scripts/test starts it)")
    return 1883


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    """A pseudo-terminal: (the device end we write to, the path the source opens)."""
    master, slave = os.openpty()
    tty.setraw(slave)  # as a configured serial port would be before the device talks
    path = os.ttyname(slave)
    yield master, path
    for fd in (master, slave):
        with contextlib.suppress(OSError):
            os.close(fd)


@pytest.fixture
def mqtt_publish() -> Any:
    """``mosquitto_pub`` as a function: ``mqtt_publish(topic, payload, port=1883)``."""
    return publish
