# Copyright (c) mmautomot contributors. All rights reserved.
import json
import socket
import threading
import time

import numpy as np
import pytest
from closed_loop_fakes import FakeDriver

from mmautomot.closed_loop.auth import SECRET_ENV, SECRET_FILE_ENV, AuthError, mac, resolve_secret
from mmautomot.closed_loop.protocol import ObservationError, validate_observation
from mmautomot.closed_loop.server import ModelServer, RemoteDriver, RemoteDriverError
from mmautomot.closed_loop.wire import (
    MAGIC,
    PREFIX,
    PROTOCOL_VERSION,
    FramingError,
    ProtocolError,
    decode,
    encode,
    json_depth,
    parse_prefix,
    recv_message,
)

SECRET = 'test-secret-0123456789abcdef'


def test_wire_roundtrip_without_pickle():
    data = dict(
        images=dict(CAM_FRONT=np.arange(24, dtype=np.uint8).reshape(2, 4, 3)),
        points=np.ones((3, 4), np.float32),
        speed=np.float32(2.5),
        command=3,
        prompt='hi',
        nested=[np.array([True, False]), None],
    )
    msg = encode('step', data)
    assert b'pickle' not in msg and msg[:4] == MAGIC
    h, b = parse_prefix(msg[: PREFIX.size], 1 << 20)
    kind, out = decode(msg[PREFIX.size : PREFIX.size + h], msg[PREFIX.size + h :])
    assert kind == 'step' and out['speed'] == 2.5 and out['prompt'] == 'hi'
    np.testing.assert_array_equal(out['images']['CAM_FRONT'], data['images']['CAM_FRONT'])
    assert out['points'].dtype == np.float32 and out['nested'][0].dtype == bool
    with pytest.raises(ProtocolError, match='not allowed'):
        encode('step', dict(x=np.array(['a'])))
    with pytest.raises(ProtocolError, match='does not match'):
        decode(
            json.dumps(
                dict(type='step', data=None, arrays=[dict(dtype='float32', shape=[4], offset=0, nbytes=8)])
            ).encode(),
            b'\0' * 8,
        )
    with pytest.raises(FramingError, match='exceeds'):
        parse_prefix(PREFIX.pack(MAGIC, PROTOCOL_VERSION, 10, 1 << 30), 1 << 20)


def _header(**kw):
    head = dict(type='step', data={}, arrays=[])
    head.update(kw)
    return json.dumps(head).encode()


def test_decode_rejects_the_reported_crashes_by_name():
    """The three headers that killed serve_model.py now raise ProtocolError with what was wrong."""
    with pytest.raises(ProtocolError, match="'arrays' must be a list"):
        decode(_header(arrays=5), b'')
    deep = b'{"type": "step", "arrays": [], "data": ' + b'[' * 100_000 + b']' * 100_000 + b'}'
    with pytest.raises(ProtocolError, match='nests 100001 levels deep'):
        decode(deep, b'')
    overflow = dict(dtype='float32', shape=[2**62, 2**62, 4], offset=0, nbytes=0)  # int64 product wraps to 0
    with pytest.raises(ProtocolError, match='is too large'):
        decode(_header(arrays=[overflow]), b'')
    assert json_depth(b'{"a": "[[[[\\"{", "b": [[1]]}') == 3  # brackets in strings do not count
    for bad, msg in [
        (dict(dtype='object', shape=[1], offset=0, nbytes=8), 'not allowed'),
        (dict(dtype='float32', shape=[1.5], offset=0, nbytes=4), 'must be an integer'),
        (dict(dtype='float32', shape=[True], offset=0, nbytes=4), 'must be an integer'),
        (dict(dtype='float32', shape=[1] * 9, offset=0, nbytes=4), 'at most 8'),
        (dict(dtype='float32', shape=[0, 2**63], offset=0, nbytes=0), 'too large'),
        (dict(dtype='uint8', shape=[4], offset=-1, nbytes=4), 'outside the body'),
        (dict(dtype='uint8', shape=[4]), 'keys'),
    ]:
        with pytest.raises(ProtocolError, match=msg):
            decode(_header(arrays=[bad]), b'\0' * 4)
    with pytest.raises(ProtocolError, match='out of range'):
        decode(_header(data={'__ndarray__': True}), b'')
    with pytest.raises(ProtocolError, match='not UTF-8 JSON'):
        decode(_header(data=None).replace(b'null', b'1' * 5000), b'')  # int over Python's digit limit
    with pytest.raises(ProtocolError, match='keys'):
        decode(b'{"type": "step"}', b'')


def _obs(tick=0, **kw):
    obs = dict(
        images=dict(CAM_FRONT=np.zeros((8, 16, 3), np.uint8)),
        points=np.zeros((5, 4), np.float32),
        speed=1.0,
        target_point=np.array([10.0, 0.0], np.float32),
        command=3,
        tick=tick,
        reset=False,
    )
    obs.update(kw)
    return obs


def test_validate_observation_names_the_key():
    validate_observation(
        _obs(ego_status=np.zeros(4, np.float32), prompt='go', img_hist=[np.zeros((4, 4, 3), np.uint8)])
    )
    for bad, msg in [
        (dict(speed=float('nan')), "'speed' must be a finite number"),
        (dict(speed='3'), "'speed' must be a finite number"),
        (dict(command=6), "'command' must be an int in \\[0, 6\\)"),
        (dict(command=True), "'command'"),
        (dict(points=np.zeros((5, 3), np.float32)), "'points' must be an \\(N, 4\\) float"),
        (dict(points=np.full((2, 4), np.nan, np.float32)), "'points' has non-finite"),
        (dict(images=dict(CAM_FRONT=np.zeros((8, 16, 4), np.uint8))), "images\\['CAM_FRONT'\\]"),
        (dict(images=[]), "'images' must map"),
        (dict(target_point=[1.0]), "'target_point' must be 2 finite"),
        (dict(tick=-1), "'tick' must be a non-negative int"),
        (dict(reset='yes'), "'reset' must be a bool"),
        (dict(evil=1), "unknown keys \\['evil'\\]"),
    ]:
        with pytest.raises(ObservationError, match=msg):
            validate_observation(_obs(**bad))
    with pytest.raises(ObservationError, match="lacks \\['speed'\\]"):
        validate_observation({k: v for k, v in _obs().items() if k != 'speed'})


def test_secret_from_env_or_file_never_short(tmp_path, monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    monkeypatch.delenv(SECRET_FILE_ENV, raising=False)
    with pytest.raises(AuthError, match=SECRET_ENV):
        ModelServer(FakeDriver())
    assert resolve_secret(required=False) is None
    monkeypatch.setenv(SECRET_ENV, 'short')
    with pytest.raises(AuthError, match='5 bytes'):
        resolve_secret()
    path = tmp_path / 'secret'
    path.write_text(SECRET + '\n')
    monkeypatch.delenv(SECRET_ENV)
    monkeypatch.setenv(SECRET_FILE_ENV, str(path))
    assert resolve_secret() == SECRET.encode()


@pytest.fixture
def server():
    srv = ModelServer(
        FakeDriver(fail_on={7}), port=0, max_bytes=1 << 20, secret=SECRET, read_timeout=1.0, idle_timeout=5.0
    )
    thread = srv.start_in_thread()
    yield srv
    srv.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()


def _client(srv, **kw):
    return RemoteDriver(port=srv.port, timeout=10, connect_retries=5, secret=SECRET, **kw)


def test_round_trip_and_errors(server):
    client = _client(server)
    assert client.ping()
    out = client.step(_obs())
    assert out['waypoints'].shape == (6, 2) and out['path'].shape == (20, 2)
    np.testing.assert_allclose(out['waypoints'][:, 0], np.arange(1, 7) * 2.5)
    assert out['timings_ms'] == {'ae': 1.5}
    with pytest.raises(RemoteDriverError, match='RuntimeError: model exploded'):
        client.step(_obs(tick=7))
    assert client.step(_obs(1))['meta_actions'].shape == (3, 2)  # connection survives errors
    assert client.request('dance')[1]['message'] == "unknown message type 'dance'"
    with pytest.raises(RemoteDriverError, match="bad observation: observation 'command'"):
        client.step(_obs(command='left'))
    client.close()


def _connect(port, authenticate=True, secret=SECRET):
    sock = socket.create_connection(('127.0.0.1', port), timeout=10)
    kind, hello = recv_message(sock)
    assert kind == 'hello' and hello['auth'] is True and len(hello['nonce']) == 64
    if authenticate:
        sock.sendall(encode('auth', dict(mac=mac(secret.encode(), hello['nonce']))))
        assert recv_message(sock)[0] == 'welcome'
    return sock


def _raw(port, payload, authenticate=True):
    with _connect(port, authenticate) as s:
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
    client = _client(server)
    big = dict(_obs(), points=np.zeros((1 << 17, 4), np.float32))  # 2 MiB > 1 MiB limit
    with pytest.raises(RemoteDriverError, match='exceeds'):
        client.step(big)
    assert client.ping()  # the oversized body was drained: the connection is still in sync
    client.close()


def test_step_and_shutdown_need_the_secret(server):
    for msg in ('step', 'shutdown'):
        kind, data = _raw(server.port, encode(msg, _obs() if msg == 'step' else None), authenticate=False)
        assert kind == 'error' and 'needs authentication' in data['message']
    with _connect(server.port, authenticate=False) as s:  # unauthenticated: small messages only
        s.sendall(encode('step', _obs(points=np.zeros((8192, 4), np.float32))))
        assert 'authenticate first' in recv_message(s)[1]['message']
    with _connect(server.port, authenticate=False) as s:
        s.sendall(encode('auth', dict(mac='0' * 64)))
        assert recv_message(s)[1]['message'] == 'authentication failed (wrong shared secret)'
        assert s.recv(1) == b''  # closed: one guess per connection
    with pytest.raises(RemoteDriverError, match='refused the client: authentication failed'):
        RemoteDriver(port=server.port, timeout=10, secret='wrong-secret-0123456789').ping()
    assert server.driver.observations == []
    with _connect(server.port, authenticate=False) as s:
        s.sendall(encode('ping'))
        assert recv_message(s)[0] == 'pong'


def test_shutdown_message_stops_server():
    srv = ModelServer(FakeDriver(), port=0, secret=SECRET)
    thread = srv.start_in_thread()
    client = RemoteDriver(port=srv.port, timeout=10, secret=SECRET)
    client.shutdown_server()
    thread.join(timeout=5)
    assert not thread.is_alive()
    with pytest.raises(ValueError, match='loopback'):
        ModelServer(FakeDriver(), host='8.8.8.8', secret=SECRET)


def _malformed_messages(rng):
    """(payload, authenticate) pairs: several hundred broken frames, headers and observations."""
    msgs = []

    def framed(header: bytes, body: bytes = b'', auth=True):
        msgs.append((PREFIX.pack(MAGIC, PROTOCOL_VERSION, len(header), len(body)) + header + body, auth))

    # the three reported crashes
    framed(json.dumps({'type': 'step', 'data': {}, 'arrays': 5}).encode())
    framed(b'{"type": "step", "arrays": [], "data": ' + b'[' * 100_000 + b']' * 100_000 + b'}')
    framed(_header(arrays=[dict(dtype='float64', shape=[2**32, 2**32], offset=0, nbytes=0)]))
    for shape in ([0, 2**63], [0, 2**40, 2**40], [2**64], [0] * 8):
        framed(_header(arrays=[dict(dtype='uint8', shape=shape, offset=0, nbytes=0)]))
    # header fields of every wrong type
    junk = [5, -1, 1.5, 'x', '', None, True, [], {}, [5], [None], [[]], 'x' * 300, 2**64, -(2**70), [1] * 20]
    for key in ('type', 'data', 'arrays'):
        for value in junk:
            framed(json.dumps({'type': 'step', 'data': {}, 'arrays': [], key: value}).encode())
    spec = dict(dtype='float32', shape=[2], offset=0, nbytes=8)
    for key in spec:
        for value in junk + ['object', 'O', '<U5', 'V1000000000', 'float32,float32', 'complex128', 'S10']:
            framed(_header(arrays=[dict(spec, **{key: value})], data={'a': {'__ndarray__': 0}}), b'\0' * 8)
    for ref in junk:
        framed(_header(data={'a': {'__ndarray__': ref}}))
    for text in (
        b'',
        b'{',
        b'\xff\xfe',
        b'[]',
        b'"step"',
        b'null',
        b'{"type": NaN}',
        b'1' * 6000,
        b'{"type": "step", "data": ' + b'{"a":' * 40 + b'1' + b'}' * 40 + b', "arrays": []}',
    ):
        framed(text)
    # frames: bad magic / version, oversized, random garbage, auth games
    msgs += [
        (PREFIX.pack(b'XXXX', PROTOCOL_VERSION, 0, 0), True),
        (PREFIX.pack(MAGIC, 7, 0, 0), True),
        (PREFIX.pack(MAGIC, PROTOCOL_VERSION, 1 << 31, 0), True),
        (PREFIX.pack(MAGIC, PROTOCOL_VERSION, 10, 1 << 62), True),
    ]
    msgs += [
        (rng.integers(0, 256, int(rng.integers(PREFIX.size, 300)), dtype=np.uint8).tobytes(), bool(i % 2))
        for i in range(40)
    ]
    msgs += [
        (encode('step', _obs()), False),
        (encode('shutdown'), False),
        (encode('auth', [1]), False),
        (encode('auth', dict(mac=5)), False),
        (encode('auth', dict(mac='a' * 10_000)), False),
        (encode('auth', dict(mac='x')), True),
    ]
    # well-framed steps with broken observations
    bad_values = dict(
        images=[
            None,
            5,
            {},
            [],
            {'CAM_FRONT': np.zeros((8, 16), np.uint8)},
            {'CAM_FRONT': np.zeros((8, 16, 3), np.float32)},
            {'CAM_FRONT': np.zeros((0, 16, 3), np.uint8)},
            {f'C{i}': np.zeros((2, 2, 3), np.uint8) for i in range(17)},
            {'CAM_FRONT': 'img'},
        ],
        points=[
            None,
            5,
            [[1, 2, 3, 4]],
            np.zeros((3, 3), np.float32),
            np.zeros(4, np.float32),
            np.zeros((2, 4), np.int32),
            np.full((2, 4), np.inf, np.float32),
        ],
        speed=[None, 'fast', float('nan'), float('inf'), [1.0], True, {}],
        target_point=[None, 1.0, [1.0], [1.0, 'a'], np.zeros(3, np.float32), [float('nan'), 0.0]],
        command=[None, -1, 6, 2.5, '2', True, [2]],
        ego_status=[5, np.zeros(3, np.float32), ['a'] * 4],
        prompt=[5, ['x'], 'x' * 10_000],
        tick=[-1, 1.5, '3', True],
        reset=['yes', 1, None],
        img_hist=[5, [], [None], [np.zeros((4, 4), np.uint8)], [np.zeros((2, 2, 3), np.uint8)] * 33],
    )
    for key, values in bad_values.items():
        for value in values:
            msgs.append((encode('step', _obs(**{key: value})), True))
    required = ['images', 'points', 'speed', 'target_point', 'command']
    for _ in range(120):  # random deletions of required (and other) keys, unknown keys, swapped values
        obs = _obs()
        keys = list(obs)
        obs.pop(required[int(rng.integers(len(required)))])
        for k in rng.choice(keys, size=int(rng.integers(0, 3)), replace=False):
            obs.pop(k, None)
        if rng.random() < 0.5:
            obs[f'extra{int(rng.integers(100))}'] = 1
        if rng.random() < 0.5 and 'speed' in obs:
            obs['speed'] = keys[int(rng.integers(len(keys)))]
        msgs.append((encode('step', obs), True))
    msgs.append((encode('step', [1, 2, 3]), True))
    msgs.append((encode('step', None), True))
    return msgs


def test_fuzz_malformed_messages_and_concurrent_clients():
    """Several hundred malformed messages, an idle half-message, 20 concurrent clients: the server keeps
    serving, never hands a bad observation to the driver, a valid client gets the right plan and the
    server process's memory stays bounded."""
    import tracemalloc

    driver = FakeDriver()
    srv = ModelServer(
        driver, port=0, max_bytes=1 << 20, secret=SECRET, read_timeout=1.0, idle_timeout=5.0, max_clients=8
    )
    thread = srv.start_in_thread()
    expected = FakeDriver().step(_obs())
    try:
        msgs = _malformed_messages(np.random.default_rng(0))
        assert len(msgs) >= 300
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        for i, (payload, auth) in enumerate(msgs):
            with _connect(srv.port, auth) as s:
                try:
                    s.sendall(payload)
                    s.shutdown(socket.SHUT_WR)  # a truncated frame ends instead of waiting for the timeout
                except OSError:  # the server rejected the prefix and closed its side already
                    pass
                replies = []
                while True:
                    try:
                        replies.append(recv_message(s))
                    except ConnectionError:
                        break
            assert replies and all(kind == 'error' for kind, _ in replies), (i, payload[:80], replies)
        grown = tracemalloc.get_traced_memory()[0] - base
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        assert grown < 4 << 20, f'{grown} bytes still allocated after the fuzz'
        assert peak < 64 << 20, f'peak {peak} bytes during the fuzz'
        assert driver.observations == [] and thread.is_alive()

        # one idle client holding half a message does not block anybody
        idle = _connect(srv.port)
        idle.sendall(encode('ping')[:5])
        results, errors = {}, []

        def run(i):
            try:
                client = RemoteDriver(port=srv.port, timeout=10, connect_retries=400, retry_delay=0.02, secret=SECRET)
                results[i] = [client.step(_obs(tick=t, speed=float(i))) for t in range(3)]
                client.close()
            except Exception as err:  # noqa: BLE001
                errors.append(repr(err))

        workers = [threading.Thread(target=run, args=(i,)) for i in range(20)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=60)
        assert errors == [] and sorted(results) == list(range(20))
        for outs in results.values():
            for out in outs:
                np.testing.assert_array_equal(out['waypoints'], expected['waypoints'])
        assert sorted(o['speed'] for o in driver.observations) == sorted(float(i) for i in range(20) for _ in range(3))
        idle.settimeout(10)
        assert idle.recv(1 << 16) == b''  # the stalled message timed out (read_timeout 1 s)
        idle.close()
        out = _client(srv).step(_obs(tick=1))
        np.testing.assert_array_equal(out['waypoints'], expected['waypoints'])
        np.testing.assert_array_equal(out['path'], expected['path'])
    finally:
        srv.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_busy_reply_and_read_timeout():
    srv = ModelServer(FakeDriver(), port=0, secret=SECRET, max_clients=1, read_timeout=0.5)
    thread = srv.start_in_thread()
    try:
        first = _connect(srv.port)
        with socket.create_connection(('127.0.0.1', srv.port), timeout=10) as s:
            kind, data = recv_message(s)
            assert kind == 'error' and data['busy'] is True and 'server busy: 1 clients' in data['message']
        first.sendall(encode('ping')[:5])  # half a message, then silence
        t0 = time.monotonic()
        assert first.recv(1 << 16) == b''  # dropped after read_timeout
        assert time.monotonic() - t0 < 5
        first.close()
        assert _client(srv).ping()  # the slot is free again
    finally:
        srv.stop()
        thread.join(timeout=10)
