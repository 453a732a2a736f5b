"""A throwaway three-node nats-server cluster with JetStream, on loopback.

Runs in whichever process needs one: the scale-out tests (tests/integration/
test_scale_out.py) kill and restart its nodes under load; bench/throughput.py
measures against it. Each node is an
EmbeddedNats with its own store directory, client port, cluster port and
monitoring port, and routes to the other two; a node is killed by its own pid
and restarted on the same store and ports, as a crashed server in a real
deployment would be. The monitoring port tells which node a client is on.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import nats

from tools.embedded_nats import EmbeddedNats

NODES = 3


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (all held at once while they are picked, so none repeats)."""
    with ExitStack() as held:
        ports = []
        for _ in range(count):
            s = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
        return ports


class EmbeddedNatsCluster:
    def __init__(self, base_dir: str | Path, name: str = "at-exec-sim") -> None:
        ports = free_ports(3 * NODES)
        client_ports, cluster_ports, self.monitor_ports = ports[:NODES], ports[NODES:2 * NODES], ports[2 * NODES:]
        self.names = [f"n{i}" for i in range(NODES)]
        self.nodes: list[EmbeddedNats] = []
        for i in range(NODES):
            routes = ",".join(f"nats://127.0.0.1:{p}" for j, p in enumerate(cluster_ports) if j != i)
            self.nodes.append(EmbeddedNats(
                Path(base_dir) / self.names[i], port=client_ports[i],
                extra_args=("--server_name", self.names[i], "--cluster_name", name,
                            "--cluster", f"nats://127.0.0.1:{cluster_ports[i]}", "--routes", routes,
                            "-m", str(self.monitor_ports[i])),
            ))

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def index_of(self, server_name: str) -> int:
        """The node a stream or consumer info's `cluster.leader` names."""
        return self.names.index(server_name)

    def node_serving(self, client_name: str) -> int:
        """The node a client that connected with this name is on (each live node's /connz)."""
        for i, port in enumerate(self.monitor_ports):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/connz", timeout=2) as response:
                    connections = json.loads(response.read()).get("connections") or []
            except OSError:
                continue  # a node that is down serves no one
            if any(c.get("name") == client_name for c in connections):
                return i
        raise LookupError(f"no node serves a client named {client_name!r}")

    def start(self, timeout_s: float = 60.0) -> EmbeddedNatsCluster:
        """All three listening and JetStream answering through each of them (a meta leader elected)."""
        try:
            for node in self.nodes:
                node.start()
            self._wait_jetstream(self.urls, timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def kill(self, i: int) -> None:
        """SIGKILL node `i`, for fault injection."""
        self.nodes[i].kill()

    def restart(self, i: int, timeout_s: float = 60.0) -> None:
        """Node `i` again on its store and ports, back once JetStream answers through it."""
        self.nodes[i].start()
        self._wait_jetstream([self.nodes[i].url], timeout_s)

    def _wait_jetstream(self, urls: list[str], timeout_s: float) -> None:
        asyncio.run(_jetstream_answers(urls, time.monotonic() + timeout_s))

    def __enter__(self) -> EmbeddedNatsCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _jetstream_answers(urls: list[str], deadline: float) -> None:
    """Until $JS.API.INFO answers through each url: without a meta leader it errors or goes unanswered."""
    for url in urls:
        last: Exception | None = None
        while True:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"JetStream did not answer through {url}; last error: {last!r}")
            try:
                nc = await nats.connect(url, connect_timeout=1, allow_reconnect=False)
            except Exception as exc:
                last = exc
                await asyncio.sleep(0.2)
                continue
            try:
                await nc.jetstream(timeout=1).account_info()
                break
            except Exception as exc:
                last = exc
                await asyncio.sleep(0.2)
            finally:
                await nc.close()
