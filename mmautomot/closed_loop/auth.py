# Copyright (c) mmautomot contributors. All rights reserved.
"""Shared-secret authentication of the model server (challenge-response, the secret never crosses).

The server sends a random nonce in its ``hello``; the client answers ``auth`` with
``HMAC-SHA256(secret, nonce)``; the server compares in constant time (``hmac.compare_digest``) and
only then accepts ``step`` and ``shutdown`` on that connection. The secret comes from the environment
or a file, never from the command line (other users can read a process's arguments):

* ``MMAUTOMOT_SERVER_SECRET``: the secret itself, or
* ``MMAUTOMOT_SERVER_SECRET_FILE`` / a ``secret_file`` argument: a file holding it (surrounding
  whitespace stripped; keep it readable by you only, ``chmod 600``).
"""

import hashlib
import hmac
import os
import secrets
from typing import Optional, Union

SECRET_ENV = 'MMAUTOMOT_SERVER_SECRET'
SECRET_FILE_ENV = 'MMAUTOMOT_SERVER_SECRET_FILE'
MIN_SECRET_BYTES = 16


class AuthError(PermissionError):
    """The shared secret is missing, too short, or a peer failed the challenge."""


def _check(secret: bytes, source: str) -> bytes:
    if len(secret) < MIN_SECRET_BYTES:
        raise AuthError(
            f'model server secret from {source} has {len(secret)} bytes; use at least '
            f'{MIN_SECRET_BYTES} (e.g. python -c "import secrets; print(secrets.token_hex(32))")'
        )
    return secret


def read_secret_file(path: str) -> bytes:
    """The secret stored in ``path`` (whitespace stripped)."""
    try:
        with open(path, 'rb') as f:
            data = f.read(1 << 16).strip()
    except OSError as err:
        raise AuthError(f'cannot read the model server secret file {path!r}: {err}') from err
    return _check(data, f'file {path!r}')


def resolve_secret(
    secret: Union[str, bytes, None] = None, secret_file: Optional[str] = None, required: bool = True
) -> Optional[bytes]:
    """The shared secret from (in this order) ``secret``, ``secret_file``, ``$MMAUTOMOT_SERVER_SECRET``,
    ``$MMAUTOMOT_SERVER_SECRET_FILE``.

    Raises:
        AuthError: none found and ``required``, or shorter than :data:`MIN_SECRET_BYTES`.
    """
    if secret is not None:
        return _check(secret.encode('utf-8') if isinstance(secret, str) else bytes(secret), 'the argument')
    if secret_file:
        return read_secret_file(secret_file)
    if os.environ.get(SECRET_ENV):
        return _check(os.environ[SECRET_ENV].strip().encode('utf-8'), f'${SECRET_ENV}')
    if os.environ.get(SECRET_FILE_ENV):
        return read_secret_file(os.environ[SECRET_FILE_ENV])
    if required:
        raise AuthError(
            f'the model server needs a shared secret: set ${SECRET_ENV} or '
            f'${SECRET_FILE_ENV} (a file readable by you only); see mmautomot/closed_loop/README.md'
        )
    return None


def write_secret_file(path: str) -> bytes:
    """Create ``path`` (mode 0600, must not exist) holding a fresh random secret; return the secret."""
    secret = secrets.token_hex(32).encode('ascii')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'wb') as f:
        f.write(secret + b'\n')
    return secret


def new_nonce() -> str:
    return secrets.token_hex(32)


def mac(secret: bytes, nonce: str) -> str:
    """The client's answer to the server's challenge ``nonce``."""
    return hmac.new(secret, nonce.encode('ascii'), hashlib.sha256).hexdigest()


def verify(secret: bytes, nonce: str, answer: object) -> bool:
    """Constant-time check of a client's answer."""
    if not isinstance(answer, str) or len(answer) > 128:
        return False
    return hmac.compare_digest(mac(secret, nonce).encode('ascii'), answer.encode('utf-8', 'replace'))
