# Copyright (c) mmautomot contributors. All rights reserved.
"""Wire format of the model server: length-prefixed, versioned messages without pickle.

One message = a fixed 18-byte prefix, a UTF-8 JSON header, and a body of raw array buffers::

    prefix  = struct '!4sHIQ': magic b'MMAT', protocol version (uint16), header length (uint32),
              body length (uint64)
    header  = {"type": str, "data": <JSON with arrays replaced by {"__ndarray__": i}>,
               "arrays": [{"dtype": str, "shape": [...], "offset": int, "nbytes": int}, ...]}
    body    = the arrays' C-order bytes, concatenated at their offsets

Every field is checked before use, so a malformed message raises :class:`ProtocolError` (never a
``TypeError``, ``RecursionError`` or an overflow): the header is an object with exactly the keys
``type`` (a short string), ``data`` and ``arrays`` (a list of at most :data:`MAX_ARRAYS` specs); JSON
nesting is at most :data:`MAX_JSON_DEPTH` deep (checked before parsing); a spec has exactly ``dtype`` (a
name in :data:`ALLOWED_DTYPES`), ``shape`` (at most :data:`MAX_NDIM` non-negative ints whose product is
computed in Python integers, so it cannot overflow, and at most :data:`MAX_ELEMENTS` even when one
dimension is 0), ``offset`` and ``nbytes`` (ints, the bytes inside the body); array references are
in range. A header over :data:`MAX_HEADER_BYTES` or a message over the receiver's ``max_bytes`` is
rejected before its body is read.

Message types: ``hello`` (server -> client on connect: ``{"nonce": hex, "auth": bool}``), ``auth``
(``{"mac": hex}``, see :mod:`mmautomot.closed_loop.auth`), ``welcome``, ``step`` (data = observation),
``result`` (data = driver output), ``ping`` / ``pong``, ``shutdown`` / ``bye``, ``error`` (data =
``{"message": str}``, plus ``"busy": true`` when the server has no free client slot).
"""

import json
import re
import socket
import struct
import time
from typing import Any, List, Optional, Tuple

import numpy as np

MAGIC = b'MMAT'
PROTOCOL_VERSION = 2
PREFIX = struct.Struct('!4sHIQ')
MAX_HEADER_BYTES = 1 << 20
DEFAULT_MAX_BYTES = 256 << 20
MAX_JSON_DEPTH = 32
MAX_ARRAYS = 256
MAX_NDIM = 8
MAX_TYPE_LEN = 32
MAX_ELEMENTS = 1 << 32  # per array, counting zero-length dimensions as 1 (numpy refuses larger shapes)
ALLOWED_DTYPES = ('uint8', 'int8', 'uint16', 'int16', 'int32', 'int64', 'float16', 'float32', 'float64', 'bool')
_SPEC_KEYS = {'dtype', 'shape', 'offset', 'nbytes'}
#: escapes are dropped first, then a JSON string (skipped) or a bracket (counted): both regexes run in
#: linear time on any input, so the depth check itself cannot be used to stall the server.
_JSON_ESCAPE = re.compile(rb'\\.', re.DOTALL)
_JSON_TOKENS = re.compile(rb'"[^"]*"|[\[\]{}]')


class ProtocolError(ValueError):
    """A message violates the wire format (malformed header or array specs; its bytes were read)."""


class FramingError(ProtocolError):
    """The prefix is unusable (bad magic / version, oversized).

    ``drain`` is the byte count that follows the prefix when it is known (valid magic and version but
    too large): the receiver may discard that many bytes to stay in sync; 0 otherwise.
    """

    def __init__(self, message: str, drain: int = 0):
        super().__init__(message)
        self.drain = int(drain)


def _pack_value(obj: Any, arrays: List[np.ndarray]) -> Any:
    if isinstance(obj, np.ndarray):
        if obj.dtype.name not in ALLOWED_DTYPES:
            raise ProtocolError(f'array dtype {obj.dtype} is not allowed ({ALLOWED_DTYPES})')
        arrays.append(np.ascontiguousarray(obj))
        return {'__ndarray__': len(arrays) - 1}
    if isinstance(obj, dict):
        return {str(k): _pack_value(v, arrays) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_pack_value(v, arrays) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise ProtocolError(f'cannot serialise a {type(obj).__name__} (only JSON types and numpy arrays)')


def encode(msg_type: str, data: Any = None) -> bytes:
    """Serialise one message (JSON-able values plus numpy arrays anywhere in ``data``)."""
    arrays: List[np.ndarray] = []
    packed = _pack_value(data, arrays)
    specs, offset = [], 0
    for arr in arrays:
        specs.append(dict(dtype=arr.dtype.name, shape=list(arr.shape), offset=offset, nbytes=arr.nbytes))
        offset += arr.nbytes
    header = json.dumps(dict(type=msg_type, data=packed, arrays=specs)).encode('utf-8')
    return PREFIX.pack(MAGIC, PROTOCOL_VERSION, len(header), offset) + header + b''.join(a.tobytes() for a in arrays)


def parse_prefix(prefix: bytes, max_bytes: int) -> Tuple[int, int]:
    """Validate the prefix; return ``(header_len, body_len)``."""
    if len(prefix) != PREFIX.size:
        raise FramingError(f'truncated prefix ({len(prefix)} of {PREFIX.size} bytes)')
    magic, version, header_len, body_len = PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise FramingError(f'bad magic {magic!r} (expected {MAGIC!r})')
    if version != PROTOCOL_VERSION:
        raise FramingError(f'protocol version {version} not supported (expected {PROTOCOL_VERSION})')
    if header_len > MAX_HEADER_BYTES:
        raise FramingError(f'header of {header_len} bytes exceeds {MAX_HEADER_BYTES}', drain=header_len + body_len)
    if header_len + body_len > max_bytes:
        raise FramingError(
            f'message of {header_len + body_len} bytes exceeds the limit of {max_bytes}', drain=header_len + body_len
        )
    return header_len, body_len


def json_depth(text: bytes) -> int:
    """Largest nesting depth of ``[``/``{`` in a JSON text (brackets inside strings do not count)."""
    depth = deepest = 0
    for tok in _JSON_TOKENS.finditer(_JSON_ESCAPE.sub(b'', text)):
        ch = tok.group()
        if ch in (b'[', b'{'):
            depth += 1
            deepest = max(deepest, depth)
        elif ch in (b']', b'}'):
            depth -= 1
    return deepest


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(f'{what} must be an integer, got {type(value).__name__}')
    return value


def _array_spec(i: int, spec: Any, body_len: int) -> Tuple[np.dtype, Tuple[int, ...], int, int]:
    if not isinstance(spec, dict) or set(spec) != _SPEC_KEYS:
        keys = sorted(spec) if isinstance(spec, dict) else type(spec).__name__
        raise ProtocolError(f'array spec {i} must be an object with keys {sorted(_SPEC_KEYS)}, got {keys}')
    name = spec['dtype']
    if not isinstance(name, str) or name not in ALLOWED_DTYPES:
        raise ProtocolError(f'array {i}: dtype {str(name)[:40]!r} is not allowed ({ALLOWED_DTYPES})')
    dtype = np.dtype(name)
    shape = spec['shape']
    if not isinstance(shape, list) or len(shape) > MAX_NDIM:
        raise ProtocolError(f'array {i}: shape must be a list of at most {MAX_NDIM} integers')
    shape = tuple(_int(s, f'array {i}: shape entry') for s in shape)
    if any(s < 0 for s in shape):
        raise ProtocolError(f'array {i}: negative shape {shape}')
    offset = _int(spec['offset'], f'array {i}: offset')
    nbytes = _int(spec['nbytes'], f'array {i}: nbytes')
    count, bound = 1, 1
    for s in shape:  # Python integers: no int64 overflow
        count, bound = count * s, bound * max(s, 1)
    if bound > MAX_ELEMENTS:
        raise ProtocolError(f'array {i}: shape {shape} is too large')
    if count * dtype.itemsize != nbytes:
        raise ProtocolError(f'array {i}: shape {shape} x {dtype} does not match {nbytes} bytes')
    if offset < 0 or offset + nbytes > body_len:
        raise ProtocolError(f'array {i}: bytes [{offset}, {offset + nbytes}) outside the body of {body_len} bytes')
    return dtype, shape, offset, nbytes


def _unpack_value(obj: Any, arrays: List[np.ndarray]) -> Any:
    if isinstance(obj, dict):
        if '__ndarray__' in obj:
            idx = obj['__ndarray__']
            if len(obj) != 1 or isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < len(arrays):
                raise ProtocolError(f'array reference {str(idx)[:40]!r} out of range ({len(arrays)} arrays)')
            return arrays[idx]
        return {k: _unpack_value(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unpack_value(v, arrays) for v in obj]
    return obj


def decode(header: bytes, body: bytes) -> Tuple[str, Any]:
    """Parse a header and body into ``(type, data)``; raises :class:`ProtocolError` if malformed."""
    depth = json_depth(header)
    if depth > MAX_JSON_DEPTH:
        raise ProtocolError(f'header JSON nests {depth} levels deep (limit {MAX_JSON_DEPTH})')
    try:
        head = json.loads(header.decode('utf-8'))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:  # ValueError: JSON, huge ints
        raise ProtocolError(f'header is not UTF-8 JSON: {str(err)[:200]}') from err
    if not isinstance(head, dict) or set(head) != {'type', 'data', 'arrays'}:
        keys = sorted(head)[:10] if isinstance(head, dict) else type(head).__name__
        raise ProtocolError(f"header must be a JSON object with keys ['arrays', 'data', 'type'], got {keys}")
    msg_type = head['type']
    if not isinstance(msg_type, str) or not 0 < len(msg_type) <= MAX_TYPE_LEN:
        raise ProtocolError(f"header 'type' must be a string of 1..{MAX_TYPE_LEN} characters")
    specs = head['arrays']
    if not isinstance(specs, list):
        raise ProtocolError(f"header 'arrays' must be a list of array specs, got {type(specs).__name__}")
    if len(specs) > MAX_ARRAYS:
        raise ProtocolError(f'{len(specs)} arrays exceed the limit of {MAX_ARRAYS}')
    arrays = []
    for i, spec in enumerate(specs):
        dtype, shape, offset, nbytes = _array_spec(i, spec, len(body))
        arrays.append(
            np.frombuffer(body, dtype=dtype, count=nbytes // dtype.itemsize, offset=offset).reshape(shape).copy()
        )
    return msg_type, _unpack_value(head['data'], arrays)


def recv_exact(sock: socket.socket, n: int, deadline: Optional[float] = None) -> bytes:
    """Read exactly ``n`` bytes; raises :class:`ConnectionError` if the peer closes first and
    ``socket.timeout`` when ``deadline`` (a ``time.monotonic()`` value) passes."""
    chunks, left = [], n
    while left:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout(f'timed out with {left} of {n} bytes unread')
            sock.settimeout(remaining)
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ConnectionError(f'connection closed with {left} of {n} bytes unread')
        chunks.append(chunk)
        left -= len(chunk)
    return b''.join(chunks)


def recv_message(
    sock: socket.socket, max_bytes: int = DEFAULT_MAX_BYTES, timeout: Optional[float] = None
) -> Tuple[str, Any]:
    """Read one message; :class:`ProtocolError` for bad prefixes (the body is then left unread).

    Args:
        timeout (float, optional): seconds for the whole message (from its first byte on); None keeps
            the socket's own timeout per read.
    """
    first = recv_exact(sock, 1)  # waits as long as the socket's timeout allows (idle connection)
    deadline = None if timeout is None else time.monotonic() + timeout
    header_len, body_len = parse_prefix(first + recv_exact(sock, PREFIX.size - 1, deadline), max_bytes)
    header = recv_exact(sock, header_len, deadline)
    body = recv_exact(sock, body_len, deadline)
    return decode(header, body)


def discard(sock: socket.socket, n: int, deadline: Optional[float] = None) -> None:
    """Read and drop ``n`` bytes (to skip an oversized message)."""
    while n > 0:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout('timed out while discarding')
            sock.settimeout(remaining)
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise ConnectionError('connection closed while discarding')
        n -= len(chunk)


def send_message(sock: socket.socket, msg_type: str, data: Any = None) -> None:
    sock.sendall(encode(msg_type, data))
