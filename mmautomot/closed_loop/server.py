# Copyright (c) mmautomot contributors. All rights reserved.
"""Model server: run the model in its own process and let the CARLA-side agent reach it over loopback.

The agent often has to live in CARLA's Python (e.g. 3.7-3.10 for CARLA 0.9.15) while the model needs a
recent torch: :class:`ModelServer` serves any :class:`DriverProtocol` on ``127.0.0.1:PORT``;
:class:`RemoteDriver` implements the same protocol on the client side. Wire format: see
:mod:`mmautomot.closed_loop.wire` (no pickle).

Behaviour:

* One client at a time; requests are answered in order. ``step`` -> ``result`` (or ``error`` when the
  driver raises: the message is ``'<ExceptionType>: <text>'``; the connection stays open).
* A malformed message (bad JSON, bad array spec, unknown type) gets an ``error`` reply and the
  connection stays open; an oversized one (up to ``4 x max_bytes``) is read, dropped and answered with
  an ``error``; a bad magic / version (or a larger message) gets an ``error`` reply and the connection
  is closed without reading on.
* ``shutdown`` -> ``bye`` and the server stops serving (:meth:`ModelServer.serve_forever` returns).
"""
import ipaddress
import logging
import socket
import threading
import time
from typing import Any, Dict, Optional

from .protocol import DriverProtocol, step_driver, validate_driver_output
from .wire import (DEFAULT_MAX_BYTES, FramingError, ProtocolError, discard, recv_message,
                   send_message)

logger = logging.getLogger(__name__)


class RemoteDriverError(RuntimeError):
    """The server answered a request with an error message."""


def _check_loopback(host: str, allow_remote: bool) -> None:
    try:
        loop = ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        loop = False
    if not loop and not allow_remote:
        raise ValueError(f'ModelServer: host {host!r} is not a loopback address; the server has no '
                         'authentication, pass allow_remote=True only on a trusted network')


class ModelServer:
    """Serve a driver over TCP.

    Args:
        driver (DriverProtocol): the model (e.g. ``mmautomot.apis.Driver``).
        host (str): bind address. Defaults to '127.0.0.1'.
        port (int): TCP port; 0 picks a free one (read :attr:`port`). Defaults to 0.
        max_bytes (int): largest accepted request in bytes. Defaults to 256 MiB.
        allow_remote (bool): allow a non-loopback bind address. Defaults to False.
    """

    def __init__(self, driver: DriverProtocol, host: str = '127.0.0.1', port: int = 0,
                 max_bytes: int = DEFAULT_MAX_BYTES, allow_remote: bool = False):
        _check_loopback(host, allow_remote)
        self.driver = driver
        self.max_bytes = int(max_bytes)
        #: an oversized request up to this size is read and dropped (the connection stays usable);
        #: larger ones, and bad magic / versions, close the connection after the error reply.
        self.max_drain = 4 * self.max_bytes
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(1)
        self._sock.settimeout(0.2)
        self.host, self.port = self._sock.getsockname()[:2]
        self._stop = threading.Event()
        self.requests_served = 0

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(None)
        with conn:
            while not self._stop.is_set():
                try:
                    msg_type, data = recv_message(conn, self.max_bytes)
                except ConnectionError:
                    return
                except FramingError as err:
                    if 0 < err.drain <= self.max_drain:
                        try:
                            discard(conn, err.drain)
                        except ConnectionError:
                            return
                        send_message(conn, 'error', dict(message=f'rejected request: {err}'))
                        continue
                    send_message(conn, 'error', dict(message=f'rejected request: {err}'))
                    return
                except ProtocolError as err:
                    send_message(conn, 'error', dict(message=f'malformed request: {err}'))
                    continue
                self.requests_served += 1
                if msg_type == 'ping':
                    send_message(conn, 'pong', dict(time=time.time()))
                elif msg_type == 'shutdown':
                    send_message(conn, 'bye')
                    self._stop.set()
                    return
                elif msg_type == 'step':
                    send_message(conn, *self._step(data))
                else:
                    send_message(conn, 'error', dict(message=f'unknown message type {msg_type!r}'))

    def _step(self, observation: Any):
        if not isinstance(observation, dict):
            return 'error', dict(message='step data must be an observation dict')
        try:
            out = validate_driver_output(step_driver(self.driver, observation))
        except Exception as err:  # noqa: BLE001 - reported to the client
            logger.exception('driver.step failed')
            return 'error', dict(message=f'{type(err).__name__}: {err}')
        return 'result', out

    def serve_forever(self) -> None:
        """Accept clients until a ``shutdown`` message or :meth:`stop`."""
        logger.info('model server listening on %s:%d', self.host, self.port)
        try:
            while not self._stop.is_set():
                try:
                    conn, _ = self._sock.accept()
                except socket.timeout:
                    continue
                try:
                    self._handle(conn)
                except OSError:
                    logger.exception('client connection failed')
        finally:
            self._sock.close()

    def stop(self) -> None:
        self._stop.set()

    def start_in_thread(self) -> threading.Thread:
        """Serve in a daemon thread (tests, in-process use); returns the thread."""
        thread = threading.Thread(target=self.serve_forever, daemon=True)
        thread.start()
        return thread


class RemoteDriver:
    """Client side of :class:`ModelServer`; implements :class:`DriverProtocol`.

    Args:
        host (str): server address. Defaults to '127.0.0.1'.
        port (int): server port. Defaults to 50051.
        timeout (float): seconds to wait for connect and for each reply. Defaults to 60.0.
        max_bytes (int): largest accepted reply. Defaults to 256 MiB.
        connect_retries (int): connection attempts (1 s apart) while the server starts. Defaults to 30.
    """

    def __init__(self, host: str = '127.0.0.1', port: int = 50051, timeout: float = 60.0,
                 max_bytes: int = DEFAULT_MAX_BYTES, connect_retries: int = 30):
        self.host, self.port, self.timeout = host, int(port), float(timeout)
        self.max_bytes, self.connect_retries = int(max_bytes), int(connect_retries)
        self._sock: Optional[socket.socket] = None

    def _connect(self) -> socket.socket:
        if self._sock is None:
            err = None
            for attempt in range(max(1, self.connect_retries)):
                try:
                    self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
                    break
                except OSError as e:
                    err = e
                    if attempt + 1 < self.connect_retries:
                        time.sleep(1.0)
            if self._sock is None:
                raise ConnectionError(f'cannot reach the model server at {self.host}:{self.port}: {err}')
        return self._sock

    def request(self, msg_type: str, data: Any = None):
        """Send one message, return ``(type, data)`` of the reply; reconnects once after a drop."""
        for attempt in range(2):
            sock = self._connect()
            try:
                send_message(sock, msg_type, data)
                return recv_message(sock, self.max_bytes)
            except (ConnectionError, BrokenPipeError, socket.timeout):
                self.close()
                if attempt == 1 or msg_type == 'shutdown':
                    raise

    def step(self, observation: Dict[str, Any]) -> Dict[str, Any]:
        kind, data = self.request('step', observation)
        if kind == 'error':
            raise RemoteDriverError(data.get('message', 'unknown server error'))
        if kind != 'result':
            raise RemoteDriverError(f'unexpected reply type {kind!r}')
        return data

    def ping(self) -> bool:
        return self.request('ping')[0] == 'pong'

    def shutdown_server(self) -> None:
        """Ask the server to stop (it answers ``bye``) and close the connection."""
        try:
            self.request('shutdown')
        finally:
            self.close()

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
