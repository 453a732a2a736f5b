"""The protocol lines supervisor/wire.py writes are byte for byte what nats-py would write,
and the Wire refuses like Client.publish does when the connection cannot take them."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client
from nats.errors import ConnectionClosedError, OutboundBufferLimitError

from supervisor.wire import ACK, IN_PROGRESS, NAK, TERM, Wire, header_block, hpub_line, nak_after, pub_line


def captured_client() -> tuple[Client, list[bytes]]:
    """A nats-py client that is never connected, whose outgoing buffer is a list we read."""
    nc = Client()
    nc._max_pending_size = 1 << 20  # connect() sets it; unconnected, publish buffers up to it
    written: list[bytes] = []

    async def send_command(cmd: bytes, priority: bool = False) -> None:
        written.append(cmd)

    nc._send_command = send_command  # type: ignore[method-assign]
    return nc, written


def test_an_event_line_matches_nats_py_publish_with_the_same_headers() -> None:
    nc, written = captured_client()
    payload = b'{"corr_id":"req_abc-123","fill_status":"full"}'
    asyncio.run(nc.publish("executions.fill", payload, reply="_INBOX.x7.42",
                           headers={"Nats-Msg-Id": "agent_1:req_abc-123:1", "corr_id": "req_abc-123",
                                    "Exec-Sim-Intent-Seq": "7"}))
    ours = hpub_line(b"executions.fill", b"_INBOX.x7.42", header_block("agent_1:req_abc-123:1", "req_abc-123", 7), payload)
    assert written == [ours]


@pytest.mark.parametrize("fault", ["duplicate_fill", "reconcile_delayed,latency_spike"])
def test_a_faulted_event_line_matches_nats_py_publish_with_the_fault_header(fault: str) -> None:
    nc, written = captured_client()
    payload = b'{"corr_id":"req_abc-123","fill_status":"full"}'
    asyncio.run(nc.publish("executions.fill", payload, reply="_INBOX.x7.43",
                           headers={"Nats-Msg-Id": "agent_1:req_abc-123:2", "corr_id": "req_abc-123",
                                    "Exec-Sim-Intent-Seq": "7", "Exec-Sim-Fault": fault}))
    ours = hpub_line(b"executions.fill", b"_INBOX.x7.43",
                     header_block("agent_1:req_abc-123:2", "req_abc-123", 7, tuple(fault.split(","))), payload)
    assert written == [ours]
    # No fault: the same block as before, without the header.
    assert header_block("ag:a:1", "a", 7, None) == header_block("ag:a:1", "a", 7)
    assert b"Exec-Sim-Fault" not in header_block("ag:a:1", "a", 7)


@pytest.mark.parametrize("verb, nats_py", [(ACK, "ack"), (TERM, "term"), (NAK, "nak"), (IN_PROGRESS, "in_progress")])
def test_ack_lines_match_nats_py_msg_methods(verb: bytes, nats_py: str) -> None:
    from nats.aio.msg import Msg

    nc, written = captured_client()
    reply = "$JS.ACK.EXEC.exec-sim-consumer.1.77.77.1764079000000000000.3"
    asyncio.run(getattr(Msg(nc, subject="decisions.order_intent", reply=reply, data=b"{}"), nats_py)())
    assert len(written) == 1
    assert parsed(written[0]) == parsed(pub_line(reply.encode(), verb))


def test_a_delayed_nak_matches_nats_py_nak_with_a_delay() -> None:
    from nats.aio.msg import Msg

    nc, written = captured_client()
    reply = "$JS.ACK.EXEC.exec-sim-consumer.1.77.77.1764079000000000000.3"
    asyncio.run(Msg(nc, subject="decisions.order_intent", reply=reply, data=b"{}").nak(delay=2.5))
    assert len(written) == 1
    assert parsed(written[0]) == parsed(pub_line(reply.encode(), nak_after(2.5)))


def parsed(line: bytes) -> tuple[list[bytes], bytes]:
    """A protocol line's tokens and payload (nats-py leaves two spaces where a PUB has no reply)."""
    control, payload = line.split(b"\r\n", 1)
    return control.split(), payload


def test_the_wire_buffers_while_reconnecting_up_to_the_clients_limit_then_refuses() -> None:
    nc, written = captured_client()
    wire = Wire(nc)
    nc._max_pending_size = 100
    asyncio.run(wire.write(b"x" * 60))  # not connected: buffered, as nats-py does during a reconnect
    assert written == [b"x" * 60]
    nc._pending_data_size = 60
    with pytest.raises(OutboundBufferLimitError):
        asyncio.run(wire.write(b"y" * 60))
    assert written == [b"x" * 60]


def test_the_wire_refuses_once_the_connection_is_closed() -> None:
    nc, written = captured_client()
    nc._status = Client.CLOSED
    with pytest.raises(ConnectionClosedError):
        asyncio.run(Wire(nc).ack("$JS.ACK.a.b.1.1.1.1.0"))
    assert written == []


class RecordingTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def writelines(self, lines: list[bytes]) -> None:
        self.written.extend(lines)


@pytest.mark.parametrize("status, goes_out", [(Client.CONNECTED, True), (Client.RECONNECTING, False)])
def test_flush_now_writes_the_buffer_in_order_only_while_connected(status: int, goes_out: bool) -> None:
    nc = Client()
    nc._max_pending_size = 1 << 20
    nc._transport = transport = RecordingTransport()  # type: ignore[assignment]
    nc._status = status
    wire = Wire(nc)
    lines = [b"PUB a 1\r\n1\r\n", b"PUB b 1\r\n2\r\n"]
    for line in lines:
        asyncio.run(wire.write(line))
    wire.flush_now()
    if goes_out:
        assert transport.written == lines
        assert (nc._pending, nc._pending_data_size) == ([], 0)
    else:  # kept for the reconnect, as nats-py keeps it
        assert transport.written == []
        assert nc._pending == lines and nc._pending_data_size == sum(map(len, lines))


@pytest.mark.parametrize("data, headers, failure, error", [
    (b'{"stream":"EXEC","seq":17}', None, None, None),
    (b'{"stream":"EXEC","seq":17,"duplicate":true}', None, None, None),
    (b'', b"NATS/1.0 503\r\n\r\n", "NoStream", "status 503"),
    (b'', b"NATS/1.0 503 No Responders\r\n\r\n", "NoStream", "status 503 No Responders"),
    (b'{"error":{"code":400,"err_code":10060,"description":"expected stream does not match"}}', None, "StreamRefused",
     "stream error {'code': 400, 'err_code': 10060, 'description': 'expected stream does not match'}"),
    (b'not json', None, "StreamRefused", "unreadable PubAck b'not json'"),
    (b'{"stream":"error","seq":3}', None, None, None),  # a stream named "error" is still a PubAck
])
def test_a_pub_ack_is_read_from_the_raw_fields(
    data: bytes, headers: bytes | None, failure: str | None, error: str | None
) -> None:
    from supervisor import publisher

    found = publisher._pub_ack_error(data, headers)
    if failure is None:
        assert found is None
    else:
        assert type(found) is getattr(publisher, failure) and str(found) == error


def test_a_request_line_matches_nats_py_publish_with_a_reply() -> None:
    nc, written = captured_client()
    body = b'{"batch":64,"expires":1000000000}'
    asyncio.run(nc.publish("$JS.API.CONSUMER.MSG.NEXT.EXEC.exec-sim-consumer", body, reply="_INBOX.p1"))
    assert written == [pub_line(b"$JS.API.CONSUMER.MSG.NEXT.EXEC.exec-sim-consumer", body, reply=b"_INBOX.p1")]
