# Copyright (c) mmautomot contributors. All rights reserved.
"""Serve a model to the closed-loop agent over loopback TCP.

    python tools/bench2drive/serve_model.py CONFIG [CHECKPOINT] --port 50051 [--device cuda]
        [--driver-kwargs ue_interval=2 max_cache_age=4]

The agent config then uses ``driver=dict(type='remote', host='127.0.0.1', port=50051)``. Stop the
server with a ``shutdown`` message (``RemoteDriver.shutdown_server()``) or Ctrl-C.
"""
import argparse
import logging

from mmengine.config import DictAction

from mmautomot.closed_loop.protocol import build_driver
from mmautomot.closed_loop.server import ModelServer


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config', help='model config file')
    p.add_argument('checkpoint', nargs='?', default=None)
    p.add_argument('--port', type=int, default=50051)
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--device', default='cuda')
    p.add_argument('--max-mb', type=int, default=256, help='largest request in MiB')
    p.add_argument('--driver-kwargs', nargs='+', action=DictAction, default={},
                   help='extra Driver(...) arguments, e.g. ue_interval=2 max_cache_age=4')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    driver = build_driver(dict(type='local', config=args.config, checkpoint=args.checkpoint,
                               device=args.device, driver_kwargs=dict(args.driver_kwargs)))
    server = ModelServer(driver, host=args.host, port=args.port, max_bytes=args.max_mb << 20)
    print(f'serving on {server.host}:{server.port}', flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()


if __name__ == '__main__':
    main()
