# Copyright (c) mmautomot contributors. All rights reserved.
"""Serve a model to the closed-loop agent over loopback TCP.

    export MMAUTOMOT_SERVER_SECRET_FILE=~/.mmautomot_secret     # or MMAUTOMOT_SERVER_SECRET=<secret>
    python tools/bench2drive/serve_model.py CONFIG [CHECKPOINT] --port 50051 [--device cuda]
        [--create-secret] [--max-clients 8] [--driver-kwargs ue_interval=2 max_cache_age=4]

``step`` and ``shutdown`` need the shared secret (challenge-response, see
``mmautomot/closed_loop/auth.py``): it is read from ``$MMAUTOMOT_SERVER_SECRET``, or from the file named
by ``--secret-file`` / ``$MMAUTOMOT_SERVER_SECRET_FILE`` (``--create-secret`` writes a new random one
there, mode 0600). Never on the command line. The agent (``driver=dict(type='remote', host='127.0.0.1',
port=50051)``) reads the same variables. Every client connection gets its own ``Driver`` (history and
UE cache) over the one loaded model unless ``--shared-driver``. Stop the server with an authenticated
``shutdown`` message (``RemoteDriver.shutdown_server()``) or Ctrl-C.
"""

import argparse
import logging
import os

from mmengine.config import DictAction

from mmautomot.closed_loop.auth import SECRET_FILE_ENV, resolve_secret, write_secret_file
from mmautomot.closed_loop.server import ModelServer


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config', help='model config file')
    p.add_argument('checkpoint', nargs='?', default=None)
    p.add_argument('--port', type=int, default=50051, help='TCP port (0 picks a free one)')
    p.add_argument('--host', default='127.0.0.1', help='bind address (loopback only unless --allow-remote)')
    p.add_argument(
        '--allow-remote',
        action='store_true',
        help='allow a non-loopback --host (traffic is authenticated but not encrypted)',
    )
    p.add_argument('--device', default='cuda')
    p.add_argument('--max-mb', type=int, default=256, help='largest request in MiB')
    p.add_argument(
        '--secret-file',
        default=None,
        help=f'file holding the shared secret (default: ${SECRET_FILE_ENV}); the secret '
        'itself is never accepted on the command line',
    )
    p.add_argument(
        '--create-secret',
        action='store_true',
        help='write a new random secret to --secret-file (must not exist, mode 0600)',
    )
    p.add_argument('--max-clients', type=int, default=8, help='clients served at once; more get "busy"')
    p.add_argument('--idle-timeout', type=float, default=300.0, help='seconds a client may stay silent')
    p.add_argument('--read-timeout', type=float, default=30.0, help='seconds to receive one message')
    p.add_argument(
        '--shared-driver',
        action='store_true',
        help='one Driver (history, UE cache) for all clients instead of one per connection',
    )
    p.add_argument(
        '--driver-kwargs',
        nargs='+',
        action=DictAction,
        default={},
        help='extra Driver(...) arguments, e.g. mode=background ue_interval=2 max_cache_age=4',
    )
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    secret_file = args.secret_file or os.environ.get(SECRET_FILE_ENV)
    if args.create_secret:
        if not secret_file:
            raise SystemExit('--create-secret needs --secret-file PATH (or $MMAUTOMOT_SERVER_SECRET_FILE)')
        write_secret_file(secret_file)
        print(
            f'wrote a new shared secret to {secret_file}; clients: export {SECRET_FILE_ENV}={secret_file}', flush=True
        )
    secret = resolve_secret(secret_file=secret_file)  # fail before loading the model
    from mmautomot.apis import Driver, init_model  # heavy: torch + the model zoo

    model = init_model(args.config, args.checkpoint, device=args.device)
    kwargs = dict(args.driver_kwargs)
    if args.shared_driver:
        drivers = dict(driver=Driver(model, **kwargs))
    else:
        Driver(model, **kwargs)  # check the kwargs now, not at the first client
        drivers = dict(driver_factory=lambda: Driver(model, **kwargs))
    server = ModelServer(
        host=args.host,
        port=args.port,
        max_bytes=args.max_mb << 20,
        secret=secret,
        allow_remote=args.allow_remote,
        max_clients=args.max_clients,
        idle_timeout=args.idle_timeout,
        read_timeout=args.read_timeout,
        **drivers,
    )
    print(f'serving on {server.host}:{server.port}', flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()


if __name__ == '__main__':
    main()
