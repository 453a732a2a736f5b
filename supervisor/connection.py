"""The NATS connection: connected at start, reconnected for ever, closed last.

Runs in the supervisor process, on its event loop. Owns the nats-py client
(supervisor/wire.py's HotPathClient) and its Wire, the connect retries until
CONNECT_TIMEOUT_SEC (cut short by a signal; with the client's credentials and TLS context
from supervisor/nats_auth.py), the reconnect callbacks (exec_sim_nats_connected; open
pull requests forgotten on a disconnect and a reconnect; the release step woken
when the connection is back) and the close at the end of the shutdown.

`connect` builds a NatsConnection only once a client is connected, so every
part built after it gets a live client, never an optional one. The pull
requests' reset is attached later (`on_pulls_lost`), once intake exists;
until then there are none to forget.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from nats.protocol.parser import PERMISSIONS_ERR

from common.config import Settings
from common.error_codes import NATS_UNAVAILABLE
from common.metrics import Metrics
from common.redact import redacted_url
from supervisor.nats_auth import connect_options, telling
from supervisor.wire import HotPathClient, Wire

log = logging.getLogger("at_exec_sim.supervisor")

CLOSE_TIMEOUT_S = 10.0


def _nothing() -> None:
    pass


class NatsConnection:
    def __init__(self, nc: HotPathClient, metrics: Metrics, on_reconnected: Callable[[], None]) -> None:
        self.nc = nc
        self.wire = Wire(nc)
        self._metrics = metrics
        self._on_reconnected_hook = on_reconnected
        self._pulls_lost: Callable[[], None] = _nothing
        self._closing = False
        # What the client last reported: why a first connect that timed out did not get through.
        self.last_error: Exception | None = None

    def on_pulls_lost(self, reset: Callable[[], None]) -> None:
        """Call `reset` when the connection drops and when it is back: pull requests die with it."""
        self._pulls_lost = reset

    async def close(self) -> None:
        """Flush what is buffered (acks above all), then close.

        Not nc.drain(): it waits for the pull subscription's queue to be marked
        done, which fetch never does, and so always runs into its timeout.
        """
        nc = self.nc
        if nc.is_closed:
            return
        self._closing = True
        if nc.is_connected:
            try:
                await asyncio.wait_for(nc.flush(), timeout=5)
            except Exception as exc:
                log.warning("flush before close failed", extra={"error": f"{type(exc).__name__}: {exc}"})
        try:
            await asyncio.wait_for(nc.close(), timeout=CLOSE_TIMEOUT_S)
        except TimeoutError:
            log.warning("NATS close did not finish in time; going on", extra={"timeout_s": CLOSE_TIMEOUT_S})

    async def _on_disconnected(self) -> None:
        self._metrics.nats_connected.set(0)
        if self._closing:
            return
        log.error("NATS disconnected: fetching paused, events held", extra={"error_code": NATS_UNAVAILABLE})
        self._pulls_lost()

    async def _on_reconnected(self) -> None:
        self._metrics.nats_connected.set(1)
        self._pulls_lost()  # pull requests do not outlive the connection they came on
        url = self.nc.connected_url
        # The URL's user information is the password or token: never logged (common/redact.py).
        log.info("NATS reconnected: resuming", extra={"server": redacted_url(url.geturl()) if url else None})
        self._on_reconnected_hook()

    async def _on_error(self, exc: Exception) -> None:
        self.last_error = telling(self.last_error, exc)
        if PERMISSIONS_ERR in str(exc):
            # The server refused a publish or subscribe of ours: deploy/nats.conf and the settings disagree.
            log.error("NATS refused an operation to this user", extra={"error_code": NATS_UNAVAILABLE, "error": str(exc)})
            return
        log.debug("NATS client error", extra={"error": f"{type(exc).__name__}: {exc}"})


async def _abandon(connection: NatsConnection) -> None:
    """Close a client whose first connect failed or was cut short (it may hold a socket or tasks)."""
    connection._closing = True  # no "disconnected" alarm for a connection that never was
    try:
        await asyncio.wait_for(connection.nc.close(), timeout=2)
    except Exception as exc:  # noqa: BLE001 - nothing more to do with a client that never connected
        log.debug("closing an unconnected client failed", extra={"error": f"{type(exc).__name__}: {exc}"})


class StoppedBeforeConnected(Exception):
    """A signal came while the first connection was still being tried: a clean stop, not a failure."""


async def _unless_stopped(attempt: Awaitable[None], stop: asyncio.Event, timeout_s: float) -> None:
    """Await `attempt` for at most `timeout_s`; a stop cancels it at once (StoppedBeforeConnected)."""
    trying = asyncio.ensure_future(attempt)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((trying, stopping), timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not trying.done():
        trying.cancel()
        await asyncio.gather(trying, return_exceptions=True)
        raise StoppedBeforeConnected() if stop.is_set() else TimeoutError()
    trying.result()


async def connect(
    settings: Settings, metrics: Metrics, stop: asyncio.Event, on_reconnected: Callable[[], None]
) -> NatsConnection:
    """Connect, retrying every 0.5 s until CONNECT_TIMEOUT_SEC; the last error raises.

    A stop (the first signal) ends the wait at once, whatever the attempt under way is doing:
    StoppedBeforeConnected.
    """
    deadline = time.monotonic() + settings.connect_timeout_s
    # Read once: a bad certificate or key fails the start here, named, instead of every attempt.
    credentials = connect_options(settings)
    while True:
        if stop.is_set():
            raise StoppedBeforeConnected()
        connection = NatsConnection(HotPathClient(), metrics, on_reconnected)
        try:
            # Bounded here: with unlimited reconnects nats-py retries a first connect for ever.
            await _unless_stopped(connection.nc.connect(
                servers=list(settings.nats_urls),
                name=settings.service_name,
                connect_timeout=2,
                allow_reconnect=True,
                max_reconnect_attempts=-1,  # fail-stop waits for NATS, however long
                reconnect_time_wait=0.5,  # type: ignore[arg-type]  # nats-py annotates int; it takes seconds
                disconnected_cb=connection._on_disconnected,
                reconnected_cb=connection._on_reconnected,
                error_cb=connection._on_error,
                **credentials,
            ), stop, timeout_s=max(deadline - time.monotonic(), 0.1))
            metrics.nats_connected.set(1)
            return connection
        except StoppedBeforeConnected:
            await _abandon(connection)
            raise
        except Exception as exc:
            await _abandon(connection)
            if time.monotonic() >= deadline:
                if isinstance(exc, TimeoutError):
                    # nats-py retries a refused TLS handshake or login inside the attempt: say why.
                    why = connection.last_error
                    raise ConnectionError(f"no NATS server answered within NATS_CONNECT_TIMEOUT_SEC="
                                          f"{settings.connect_timeout_s:g} s"
                                          + (f"; last error: {type(why).__name__}: {why}" if why else "")) from None
                raise
            log.warning("NATS not reachable yet; retrying", extra={"error_code": NATS_UNAVAILABLE, "error": str(exc)})
            try:
                await asyncio.wait_for(stop.wait(), timeout=0.5)
            except TimeoutError:
                pass
