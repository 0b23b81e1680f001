# Copyright (c) mmautomot contributors. All rights reserved.
"""Model server: run the model in its own process and let the CARLA-side agent reach it over loopback.

The agent often has to live in CARLA's Python (e.g. 3.7-3.10 for CARLA 0.9.15) while the model needs a
recent torch: :class:`ModelServer` serves any :class:`DriverProtocol` on ``127.0.0.1:PORT``;
:class:`~mmautomot.closed_loop.client.RemoteDriver` implements the same protocol on the client side.
Wire format: see :mod:`mmautomot.closed_loop.wire` (no pickle).

Behaviour:

* Each client gets its own thread, up to ``max_clients`` at once; one more is answered ``error`` with
  ``busy: true`` and closed (the client retries). Driver calls are serialised by a lock.
* On connect the server sends ``hello`` with a random nonce; the client must answer ``auth`` with the
  HMAC of the shared secret (:mod:`mmautomot.closed_loop.auth`, compared in constant time) before
  ``step`` or ``shutdown`` are accepted; a wrong answer closes the connection. Unauthenticated
  messages are limited to ``max_unauth_bytes``. ``ping`` needs no authentication.
* Timeouts per connection: ``idle_timeout`` seconds for the first byte of the next message, then
  ``read_timeout`` seconds for the whole message; a stalled or idle client is disconnected and never
  blocks another one.
* Every field is validated before use (:func:`~mmautomot.closed_loop.wire.decode` for the frame,
  :func:`~mmautomot.closed_loop.protocol.validate_observation` for a step): a malformed message gets an
  ``error`` reply and the connection stays open; an oversized one (up to ``4 x max_bytes``, from an
  authenticated client) is read, dropped and answered with an ``error``; a bad magic / version (or a
  larger message) gets an ``error`` reply and the connection is closed. No client input can stop the
  server except an authenticated ``shutdown``.
* ``step`` -> ``result`` (or ``error`` when the driver raises: ``'<ExceptionType>: <text>'``).
* ``shutdown`` -> ``bye`` and the server stops serving (:meth:`ModelServer.serve_forever` returns).
"""

import ipaddress
import logging
import socket
import threading
import time
from typing import Any, Callable, Optional, Set

from .auth import new_nonce, resolve_secret, verify
from .client import RemoteDriver, RemoteDriverError, ServerBusyError  # noqa: F401 (re-exported)
from .protocol import DriverProtocol, step_driver, validate_driver_output, validate_observation
from .wire import DEFAULT_MAX_BYTES, FramingError, ProtocolError, discard, recv_message, send_message

logger = logging.getLogger(__name__)


def _check_loopback(host: str, allow_remote: bool) -> None:
    try:
        loop = ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        loop = False
    if not loop and not allow_remote:
        raise ValueError(
            f'ModelServer: host {host!r} is not a loopback address; the traffic is not '
            'encrypted, pass allow_remote=True only on a trusted network'
        )


class ModelServer:
    """Serve a driver over TCP to several authenticated clients.

    Args:
        driver (DriverProtocol, optional): the model (e.g. ``mmautomot.apis.Driver``), shared by all
            clients (its history / cache then follow whichever client stepped last).
        host (str): bind address. Defaults to '127.0.0.1'.
        port (int): TCP port; 0 picks a free one (read :attr:`port`). Defaults to 0.
        max_bytes (int): largest accepted request in bytes. Defaults to 256 MiB.
        allow_remote (bool): allow a non-loopback bind address. Defaults to False.
        secret (str | bytes, optional): the shared secret (from code; the tool reads it from the
            environment or a file). None reads ``$MMAUTOMOT_SERVER_SECRET`` /
            ``$MMAUTOMOT_SERVER_SECRET_FILE``; none found is an error.
        secret_file (str, optional): file holding the secret.
        max_clients (int): clients served at once. Defaults to 8.
        idle_timeout (float): seconds a connection may wait between messages. Defaults to 300.
        read_timeout (float): seconds to receive one whole message once it started. Defaults to 30.
        max_unauth_bytes (int): largest message before authentication. Defaults to 64 KiB.
        driver_factory (Callable[[], DriverProtocol], optional): instead of ``driver``: called once per
            connection, so each client (e.g. one leaderboard instance) has its own history and cache
            while the model weights are shared.
    """

    def __init__(
        self,
        driver: Optional[DriverProtocol] = None,
        host: str = '127.0.0.1',
        port: int = 0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        allow_remote: bool = False,
        secret=None,
        secret_file: Optional[str] = None,
        max_clients: int = 8,
        idle_timeout: float = 300.0,
        read_timeout: float = 30.0,
        max_unauth_bytes: int = 1 << 16,
        driver_factory: Optional[Callable[[], DriverProtocol]] = None,
    ):
        if (driver is None) == (driver_factory is None):
            raise ValueError('ModelServer: pass exactly one of driver and driver_factory')
        if max_clients < 1:
            raise ValueError(f'ModelServer: max_clients must be >= 1, got {max_clients}')
        _check_loopback(host, allow_remote)
        self._secret = resolve_secret(secret, secret_file, required=True)
        self.driver, self.driver_factory = driver, driver_factory
        self.max_bytes = int(max_bytes)
        #: an oversized request up to this size is read and dropped (the connection stays usable);
        #: larger ones, and bad magic / versions, close the connection after the error reply.
        self.max_drain = 4 * self.max_bytes
        self.max_clients, self.max_unauth_bytes = int(max_clients), int(max_unauth_bytes)
        self.idle_timeout, self.read_timeout = float(idle_timeout), float(read_timeout)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(max(16, 4 * self.max_clients))
        self._sock.settimeout(0.2)
        self.host, self.port = self._sock.getsockname()[:2]
        self._stop = threading.Event()
        self._lock = threading.Lock()  # guards the bookkeeping below
        self._driver_lock = threading.Lock()  # one driver call at a time (the model is not thread-safe)
        self._conns: Set[socket.socket] = set()
        self._threads: Set[threading.Thread] = set()
        self.requests_served = 0

    # ------------------------------------------------------------------ one client
    def _reply(self, conn: socket.socket, msg_type: str, data: Any = None) -> None:
        conn.settimeout(self.read_timeout)  # a client that does not read cannot block us forever
        send_message(conn, msg_type, data)

    @staticmethod
    def _linger(conn: socket.socket, seconds: float = 0.5, max_bytes: int = 1 << 20) -> None:
        """Before closing after an error reply: stop sending and drop what the client still sends (for
        at most ``seconds`` / ``max_bytes``), so that closing with unread input (a TCP reset) does not
        destroy the reply before the client reads it."""
        try:
            conn.shutdown(socket.SHUT_WR)
            deadline, left = time.monotonic() + seconds, max_bytes
            while left > 0 and time.monotonic() < deadline:
                conn.settimeout(max(deadline - time.monotonic(), 1e-3))
                chunk = conn.recv(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    def _serve_client(self, conn: socket.socket) -> None:
        driver = None
        try:
            nonce, authed = new_nonce(), False
            self._reply(conn, 'hello', dict(nonce=nonce, auth=True))
            while not self._stop.is_set():
                conn.settimeout(self.idle_timeout)
                limit = self.max_bytes if authed else self.max_unauth_bytes
                try:
                    msg_type, data = recv_message(conn, limit, timeout=self.read_timeout)
                except FramingError as err:
                    if authed and 0 < err.drain <= self.max_drain:
                        discard(conn, err.drain, time.monotonic() + self.read_timeout)
                        self._reply(conn, 'error', dict(message=f'rejected request: {err}'))
                        continue
                    hint = '' if authed or not err.drain else ' (authenticate first)'
                    self._reply(conn, 'error', dict(message=f'rejected request: {err}{hint}'))
                    self._linger(conn)
                    return
                except ProtocolError as err:
                    self._reply(conn, 'error', dict(message=f'malformed request: {err}'))
                    continue
                if msg_type != 'auth':
                    with self._lock:
                        self.requests_served += 1
                if msg_type == 'ping':
                    self._reply(conn, 'pong', dict(time=time.time()))
                elif msg_type == 'auth':
                    if authed:
                        self._reply(conn, 'error', dict(message='already authenticated'))
                        continue
                    answer = data.get('mac') if isinstance(data, dict) else None
                    if not verify(self._secret, nonce, answer):
                        logger.warning('model server: a client failed authentication')
                        self._reply(conn, 'error', dict(message='authentication failed (wrong shared secret)'))
                        self._linger(conn)
                        return
                    authed = True
                    self._reply(conn, 'welcome')
                elif msg_type in ('step', 'shutdown') and not authed:
                    self._reply(
                        conn,
                        'error',
                        dict(
                            message=f'{msg_type!r} needs authentication: answer the '
                            "hello challenge with an 'auth' message first"
                        ),
                    )
                elif msg_type == 'shutdown':
                    self._reply(conn, 'bye')
                    self.stop()
                    return
                elif msg_type == 'step':
                    if driver is None:
                        driver = self.driver if self.driver is not None else self.driver_factory()
                    self._reply(conn, *self._step(driver, data))
                else:
                    self._reply(conn, 'error', dict(message=f'unknown message type {msg_type!r}'))
        except (OSError, ConnectionError):  # closed, reset, timed out: drop this client only
            pass
        except Exception:  # noqa: BLE001 - never let one client take the server down
            logger.exception('model server: client handler failed')
        finally:
            close = getattr(driver, 'close', None) if self.driver_factory is not None else None
            if callable(close):
                close()
            with self._lock:
                self._conns.discard(conn)
                self._threads.discard(threading.current_thread())
            conn.close()

    def _step(self, driver: DriverProtocol, observation: Any):
        try:
            validate_observation(observation)
        except ValueError as err:
            return 'error', dict(message=f'bad observation: {err}')
        try:
            with self._driver_lock:
                out = validate_driver_output(step_driver(driver, observation))
        except Exception as err:  # noqa: BLE001 - reported to the client
            logger.exception('driver.step failed')
            return 'error', dict(message=f'{type(err).__name__}: {err}')
        return 'result', out

    # ------------------------------------------------------------------ accept loop
    def _admit(self, conn: socket.socket) -> None:
        with self._lock:
            busy = len(self._conns) >= self.max_clients
            if not busy:
                self._conns.add(conn)
        if busy:
            try:
                conn.settimeout(1.0)
                send_message(
                    conn,
                    'error',
                    dict(message=f'server busy: {self.max_clients} clients connected, retry later', busy=True),
                )
            except OSError:
                pass
            conn.close()
            return
        thread = threading.Thread(
            target=self._serve_client, args=(conn,), daemon=True, name=f'model-server-client-{conn.fileno()}'
        )
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def serve_forever(self) -> None:
        """Accept clients until a ``shutdown`` message or :meth:`stop`."""
        logger.info('model server listening on %s:%d', self.host, self.port)
        try:
            while not self._stop.is_set():
                try:
                    conn, _ = self._sock.accept()
                except socket.timeout:
                    continue
                except OSError:  # e.g. out of file descriptors: keep serving the others
                    logger.exception('model server: accept failed')
                    time.sleep(0.1)
                    continue
                self._admit(conn)
        finally:
            self._sock.close()
            self.stop()
            with self._lock:
                threads = list(self._threads)
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join(timeout=5)

    def stop(self) -> None:
        """Stop accepting and wake every client thread (their sockets are shut down)."""
        self._stop.set()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @property
    def num_clients(self) -> int:
        with self._lock:
            return len(self._conns)

    def start_in_thread(self) -> threading.Thread:
        """Serve in a daemon thread (tests, in-process use); returns the thread."""
        thread = threading.Thread(target=self.serve_forever, daemon=True)
        thread.start()
        return thread
