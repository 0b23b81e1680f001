# Copyright (c) mmautomot contributors. All rights reserved.
import json
import socket

import numpy as np
import pytest
from closed_loop_fakes import FakeDriver

from mmautomot.closed_loop.server import ModelServer, RemoteDriver, RemoteDriverError
from mmautomot.closed_loop.wire import (MAGIC, PREFIX, PROTOCOL_VERSION, FramingError, ProtocolError,
                                        decode, encode, parse_prefix, recv_message)


def test_wire_roundtrip_without_pickle():
    data = dict(images=dict(CAM_FRONT=np.arange(24, dtype=np.uint8).reshape(2, 4, 3)),
                points=np.ones((3, 4), np.float32), speed=np.float32(2.5), command=3, prompt='hi',
                nested=[np.array([True, False]), None])
    msg = encode('step', data)
    assert b'pickle' not in msg and msg[:4] == MAGIC
    h, b = parse_prefix(msg[:PREFIX.size], 1 << 20)
    kind, out = decode(msg[PREFIX.size:PREFIX.size + h], msg[PREFIX.size + h:])
    assert kind == 'step' and out['speed'] == 2.5 and out['prompt'] == 'hi'
    np.testing.assert_array_equal(out['images']['CAM_FRONT'], data['images']['CAM_FRONT'])
    assert out['points'].dtype == np.float32 and out['nested'][0].dtype == bool
    with pytest.raises(ProtocolError, match='not allowed'):
        encode('step', dict(x=np.array(['a'])))
    with pytest.raises(ProtocolError, match='does not match'):
        decode(json.dumps(dict(type='step', data=None, arrays=[dict(dtype='float32', shape=[4], offset=0,
                                                                    nbytes=8)])).encode(), b'\0' * 8)
    with pytest.raises(FramingError, match='exceeds'):
        parse_prefix(PREFIX.pack(MAGIC, PROTOCOL_VERSION, 10, 1 << 30), 1 << 20)


@pytest.fixture
def server():
    srv = ModelServer(FakeDriver(fail_on={7}), port=0, max_bytes=1 << 20)
    thread = srv.start_in_thread()
    yield srv
    srv.stop()
    thread.join(timeout=5)


def _obs(tick=0):
    return dict(images=dict(CAM_FRONT=np.zeros((8, 16, 3), np.uint8)), points=np.zeros((5, 4), np.float32),
                speed=1.0, target_point=np.array([10.0, 0.0], np.float32), command=3, tick=tick, reset=False)


def test_round_trip_and_errors(server):
    client = RemoteDriver(port=server.port, timeout=10, connect_retries=5)
    assert client.ping()
    out = client.step(_obs())
    assert out['waypoints'].shape == (6, 2) and out['path'].shape == (20, 2)
    np.testing.assert_allclose(out['waypoints'][:, 0], np.arange(1, 7) * 2.5)
    assert out['timings_ms'] == {'ae': 1.5}
    with pytest.raises(RemoteDriverError, match='RuntimeError: model exploded'):
        client.step(_obs(tick=7))
    assert client.step(_obs(1))['meta_actions'].shape == (3, 2)  # connection survives errors
    assert client.request('dance')[1]['message'] == "unknown message type 'dance'"
    client.close()


def _raw(port, payload):
    with socket.create_connection(('127.0.0.1', port), timeout=10) as s:
        s.sendall(payload)
        return recv_message(s)


def test_malformed_and_oversized(server):
    bad_json = b'{not json'
    kind, data = _raw(server.port, PREFIX.pack(MAGIC, PROTOCOL_VERSION, len(bad_json), 0) + bad_json)
    assert kind == 'error' and 'malformed request' in data['message']
    kind, data = _raw(server.port, PREFIX.pack(b'XXXX', PROTOCOL_VERSION, 0, 0))
    assert kind == 'error' and 'bad magic' in data['message']
    kind, data = _raw(server.port, PREFIX.pack(MAGIC, 99, 0, 0))
    assert 'version 99' in data['message']
    kind, data = _raw(server.port, PREFIX.pack(MAGIC, PROTOCOL_VERSION, 2, 8 << 20))  # > max_drain
    assert kind == 'error' and 'exceeds the limit' in data['message']
    client = RemoteDriver(port=server.port, timeout=10)
    big = dict(_obs(), points=np.zeros((1 << 17, 4), np.float32))  # 2 MiB > 1 MiB limit
    with pytest.raises(RemoteDriverError, match='exceeds'):
        client.step(big)
    assert client.ping()  # the oversized body was drained: the connection is still in sync
    client.close()


def test_shutdown_message_stops_server():
    srv = ModelServer(FakeDriver(), port=0)
    thread = srv.start_in_thread()
    client = RemoteDriver(port=srv.port, timeout=10)
    client.shutdown_server()
    thread.join(timeout=5)
    assert not thread.is_alive()
    with pytest.raises(ValueError, match='loopback'):
        ModelServer(FakeDriver(), host='8.8.8.8')
