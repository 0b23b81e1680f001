# Copyright (c) mmautomot contributors. All rights reserved.
"""``tools/bench2drive/serve_model.py`` in its own process with the tiny AutoMoT: the headers that killed
it, a stalled client and an unauthenticated shutdown leave it serving; each connection has its own
driver state; an authenticated shutdown ends it with exit code 0."""

import json
import os
import os.path as osp
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest

from mmautomot.closed_loop.auth import SECRET_ENV, SECRET_FILE_ENV, mac, read_secret_file
from mmautomot.closed_loop.client import RemoteDriver, RemoteDriverError
from mmautomot.closed_loop.wire import MAGIC, PREFIX, PROTOCOL_VERSION, encode, recv_message

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(REPO, 'projects', 'automot', 'configs', 'automot_tiny_1xb2-200i_nuscenes-e2e.py')


def _obs(tick, reset=False):
    rng = np.random.default_rng(tick)
    return dict(
        images={'CAM_FRONT': rng.integers(0, 256, (64, 128, 3), dtype=np.uint8)},
        points=(rng.standard_normal((300, 4)) * 8).astype(np.float32),
        speed=4.0,
        target_point=np.array([20.0, 1.0], np.float32),
        command=2,
        tick=tick,
        reset=reset,
    )


def _frame(header: bytes) -> bytes:
    return PREFIX.pack(MAGIC, PROTOCOL_VERSION, len(header), 0) + header


def test_serve_model_survives_bad_clients(tmp_path):
    secret_file = str(tmp_path / 'secret')
    env = {k: v for k, v in os.environ.items() if k not in (SECRET_ENV, SECRET_FILE_ENV)}
    env.update(PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    proc = subprocess.Popen(
        [
            sys.executable,
            osp.join(REPO, 'tools', 'bench2drive', 'serve_model.py'),
            CFG,
            '--port',
            '0',
            '--device',
            'cpu',
            '--secret-file',
            secret_file,
            '--create-secret',
            '--read-timeout',
            '2',
            '--max-clients',
            '4',
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = None
        for line in proc.stdout:
            if line.startswith('serving on'):
                port = int(line.rsplit(':', 1)[1])
                break
        assert port, proc.stderr.read()
        assert oct(os.stat(secret_file).st_mode & 0o777) == '0o600'
        secret = read_secret_file(secret_file)

        # unauthenticated: no steps, no shutdown
        anon = RemoteDriver(port=port, timeout=60, connect_retries=1)
        with pytest.raises(RemoteDriverError, match='requires a shared secret'):
            anon.ping()
        with socket.create_connection(('127.0.0.1', port), timeout=60) as s:
            assert recv_message(s)[0] == 'hello'
            s.sendall(encode('shutdown'))
            assert 'needs authentication' in recv_message(s)[1]['message']

        client = RemoteDriver(port=port, timeout=120, connect_retries=1, secret=secret)
        assert client.ping()
        idle = socket.create_connection(('127.0.0.1', port), timeout=60)  # holds 5 bytes of a message
        assert recv_message(idle)[0] == 'hello'
        idle.sendall(encode('ping')[:5])
        crashes = [
            json.dumps({'type': 'step', 'data': {}, 'arrays': 5}).encode(),
            b'{"type": "step", "arrays": [], "data": ' + b'[' * 100_000 + b']' * 100_000 + b'}',
            json.dumps(
                {
                    'type': 'step',
                    'data': {'a': {'__ndarray__': 0}},
                    'arrays': [dict(dtype='float64', shape=[2**32, 2**32], offset=0, nbytes=0)],
                }
            ).encode(),
        ]
        with socket.create_connection(('127.0.0.1', port), timeout=60) as sock:
            kind, hello = recv_message(sock)
            sock.sendall(encode('auth', dict(mac=mac(secret, hello['nonce']))))
            assert recv_message(sock)[0] == 'welcome'
            for header in crashes:  # one connection: the server answers each and keeps reading
                sock.sendall(_frame(header))
                kind, data = recv_message(sock)
                assert kind == 'error' and 'malformed request' in data['message']

        # two clients at once, each with its own driver: both start at tick 0 with a fresh cache
        other = RemoteDriver(port=port, timeout=120, connect_retries=1, secret=secret)
        outs = {}

        def run(name, drv):
            outs[name] = [drv.step(_obs(t, reset=t == 0)) for t in range(2)]

        workers = [threading.Thread(target=run, args=(n, d)) for n, d in (('a', client), ('b', other))]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=300)
        for name in 'ab':
            assert [o['ue_ran'] for o in outs[name]] == [True, False]
            assert outs[name][0]['waypoints'].shape == (6, 2) and np.isfinite(outs[name][0]['waypoints']).all()
        np.testing.assert_allclose(outs['a'][1]['waypoints'], outs['b'][1]['waypoints'], atol=1e-5)
        assert idle.recv(1) == b''  # the stalled client was dropped after --read-timeout
        idle.close()
        other.close()
        client.shutdown_server()
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
