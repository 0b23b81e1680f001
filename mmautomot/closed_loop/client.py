# Copyright (c) mmautomot contributors. All rights reserved.
"""Client side of the model server (:mod:`mmautomot.closed_loop.server`): :class:`RemoteDriver`.

Plain Python + numpy (it runs in CARLA's Python); imports only the wire format and the auth helpers.
"""

import socket
import time
from typing import Any, Dict, Optional

from .auth import mac, resolve_secret
from .wire import DEFAULT_MAX_BYTES, recv_message, send_message


class RemoteDriverError(RuntimeError):
    """The server answered a request with an error message."""


class ServerBusyError(RemoteDriverError):
    """The server had no free client slot (it answered ``error`` with ``busy: true``)."""


class RemoteDriver:
    """Client side of :class:`~mmautomot.closed_loop.server.ModelServer`; implements
    :class:`~mmautomot.closed_loop.protocol.DriverProtocol`.

    On connect the client answers the server's challenge with the shared secret (see
    :mod:`mmautomot.closed_loop.auth`); a busy server is retried like a refused connection.

    Args:
        host (str): server address. Defaults to '127.0.0.1'.
        port (int): server port. Defaults to 50051.
        timeout (float): seconds to wait for connect and for each reply. Defaults to 60.0.
        max_bytes (int): largest accepted reply. Defaults to 256 MiB.
        connect_retries (int): connection attempts (1 s apart) while the server starts or is busy.
            Defaults to 30.
        secret_file (str, optional): file holding the shared secret; None reads
            ``$MMAUTOMOT_SERVER_SECRET`` / ``$MMAUTOMOT_SERVER_SECRET_FILE``.
        secret (str | bytes, optional): the secret itself (from code, e.g. tests; never put it in a
            config file or on a command line).
        retry_delay (float): seconds between connection attempts. Defaults to 1.0.
    """

    def __init__(
        self,
        host: str = '127.0.0.1',
        port: int = 50051,
        timeout: float = 60.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        connect_retries: int = 30,
        secret_file: Optional[str] = None,
        secret=None,
        retry_delay: float = 1.0,
    ):
        self.host, self.port, self.timeout = host, int(port), float(timeout)
        self.max_bytes, self.connect_retries = int(max_bytes), int(connect_retries)
        self.retry_delay = float(retry_delay)
        self._secret = resolve_secret(secret, secret_file, required=False)
        self._sock: Optional[socket.socket] = None

    def _handshake(self, sock: socket.socket) -> None:
        kind, data = recv_message(sock, self.max_bytes)
        if kind == 'error' and isinstance(data, dict) and data.get('busy'):
            raise ServerBusyError(data.get('message', 'server busy'))
        if kind != 'hello' or not isinstance(data, dict) or not isinstance(data.get('nonce'), str):
            raise RemoteDriverError(f'unexpected greeting {kind!r} from {self.host}:{self.port}')
        if not data.get('auth'):
            return
        if self._secret is None:
            raise RemoteDriverError(
                'the model server requires a shared secret: set $MMAUTOMOT_SERVER_SECRET '
                'or $MMAUTOMOT_SERVER_SECRET_FILE, or pass secret_file='
            )
        send_message(sock, 'auth', dict(mac=mac(self._secret, data['nonce'])))
        kind, data = recv_message(sock, self.max_bytes)
        if kind != 'welcome':
            msg = data.get('message') if isinstance(data, dict) else data
            raise RemoteDriverError(f'model server refused the client: {msg}')

    def _connect(self) -> socket.socket:
        if self._sock is None:
            err = None
            for attempt in range(max(1, self.connect_retries)):
                sock = None
                try:
                    sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
                    self._handshake(sock)
                    self._sock = sock
                    break
                except (OSError, ServerBusyError) as e:  # refused, reset, timeout, busy
                    err = e
                    if sock is not None:
                        sock.close()
                    if attempt + 1 < self.connect_retries:
                        time.sleep(self.retry_delay)
                except Exception:
                    if sock is not None:
                        sock.close()
                    raise
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
            kind, data = self.request('shutdown')
            if kind == 'error':
                raise RemoteDriverError(data.get('message', 'shutdown refused'))
        finally:
            self.close()

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
