"""A StatsD server on loopback for tests: it receives what Airflow's StatsD client sends over UDP
and parses each line (``name[,tag=value...]:value|type``) as a StatsD server would."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sample:
    """One received metric line.

    :param name: the metric name with Airflow's prefix (``airflow.ray_k8s.rayjob.run``).
    :param value: the number sent (milliseconds for a timing ``ms``).
    :param kind: the StatsD type: ``c`` counter, ``ms`` timing, ``g`` gauge.
    :param tags: InfluxDB-style tags appended to the name (when ``statsd_influxdb_enabled``).
    """

    name: str
    value: float
    kind: str
    tags: dict[str, str] = field(default_factory=dict)


def parse_line(line: str) -> Sample:
    """Parse one StatsD line; raises ``ValueError`` on a malformed one (a test must see it)."""
    head, _, rest = line.partition(":")
    value, _, kind = rest.partition("|")
    name, *pairs = head.split(",")
    tags = dict(pair.split("=", 1) for pair in pairs)
    return Sample(name=name, value=float(value), kind=kind.split("|")[0], tags=tags)


class StatsdListener:
    """Receive StatsD datagrams on 127.0.0.1 in a thread; :attr:`samples` holds what arrived."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.port: int = self._sock.getsockname()[1]
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="statsd-listener", daemon=True)

    def __enter__(self) -> StatsdListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            for line in data.decode().splitlines():
                if line:
                    self.samples.append(parse_line(line))

    def named(self, prefix: str, *, wait: float = 2.0) -> list[Sample]:
        """The samples whose name starts with ``prefix`` (waiting up to ``wait`` s for the first)."""
        deadline = time.monotonic() + wait
        while True:
            found = [s for s in list(self.samples) if s.name.startswith(prefix)]
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(0.05)

    def airflow_env(self) -> dict[str, str]:
        """The environment that points Airflow's StatsD client here (``airflow`` prefix, InfluxDB-style
        tags), as a deployment configures its metrics; Airflow reads it at ``stats.initialize``."""
        settings = {
            "STATSD_ON": "True",
            "STATSD_HOST": "127.0.0.1",
            "STATSD_PORT": str(self.port),
            "STATSD_PREFIX": "airflow",
            "STATSD_INFLUXDB_ENABLED": "True",
        }
        return {f"AIRFLOW__METRICS__{key}": value for key, value in settings.items()}


def one_sample(samples: list[Sample], name: str, task_id: str) -> Sample:
    """The single sample of ``name`` tagged with ``task_id`` (fails the test if not exactly one)."""
    found = [s for s in samples if s.name == name and s.tags.get("task_id") == task_id]
    assert len(found) == 1, (name, task_id, samples)
    return found[0]
