# Copyright (c) mmautomot contributors. All rights reserved.
"""Wire format of the model server: length-prefixed, versioned messages without pickle.

One message = a fixed 18-byte prefix, a UTF-8 JSON header, and a body of raw array buffers::

    prefix  = struct '!4sHIQ': magic b'MMAT', protocol version (uint16), header length (uint32),
              body length (uint64)
    header  = {"type": str, "data": <JSON with arrays replaced by {"__ndarray__": i}>,
               "arrays": [{"dtype": str, "shape": [...], "offset": int, "nbytes": int}, ...]}
    body    = the arrays' C-order bytes, concatenated at their offsets

Only the dtypes in :data:`ALLOWED_DTYPES` are accepted; shapes must match byte counts; a header over
``MAX_HEADER_BYTES`` or a message over the receiver's ``max_bytes`` is rejected before its body is read.
Message types: ``step`` (data = observation), ``result`` (data = driver output), ``ping`` / ``pong``,
``shutdown`` / ``bye``, ``error`` (data = ``{"message": str}``).
"""
import json
import socket
import struct
from typing import Any, List, Tuple

import numpy as np

MAGIC = b'MMAT'
PROTOCOL_VERSION = 1
PREFIX = struct.Struct('!4sHIQ')
MAX_HEADER_BYTES = 1 << 20
DEFAULT_MAX_BYTES = 256 << 20
ALLOWED_DTYPES = ('uint8', 'int8', 'uint16', 'int16', 'int32', 'int64', 'float16', 'float32',
                  'float64', 'bool')


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
    return PREFIX.pack(MAGIC, PROTOCOL_VERSION, len(header), offset) + header + b''.join(
        a.tobytes() for a in arrays)


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
        raise FramingError(f'header of {header_len} bytes exceeds {MAX_HEADER_BYTES}',
                           drain=header_len + body_len)
    if header_len + body_len > max_bytes:
        raise FramingError(f'message of {header_len + body_len} bytes exceeds the limit of {max_bytes}',
                           drain=header_len + body_len)
    return header_len, body_len


def _unpack_value(obj: Any, arrays: List[np.ndarray]) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {'__ndarray__'}:
            idx = obj['__ndarray__']
            if not isinstance(idx, int) or not 0 <= idx < len(arrays):
                raise ProtocolError(f'array reference {idx!r} out of range')
            return arrays[idx]
        return {k: _unpack_value(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unpack_value(v, arrays) for v in obj]
    return obj


def decode(header: bytes, body: bytes) -> Tuple[str, Any]:
    """Parse a header and body into ``(type, data)``; raises :class:`ProtocolError` if malformed."""
    try:
        head = json.loads(header.decode('utf-8'))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ProtocolError(f'header is not UTF-8 JSON: {err}') from err
    if not isinstance(head, dict) or not isinstance(head.get('type'), str):
        raise ProtocolError("header must be a JSON object with a string 'type'")
    arrays = []
    for i, spec in enumerate(head.get('arrays') or []):
        try:
            dtype = np.dtype(spec['dtype'])
            shape = tuple(int(s) for s in spec['shape'])
            offset, nbytes = int(spec['offset']), int(spec['nbytes'])
        except (KeyError, TypeError, ValueError) as err:
            raise ProtocolError(f'array spec {i} is malformed: {spec!r}') from err
        if dtype.name not in ALLOWED_DTYPES:
            raise ProtocolError(f'array {i}: dtype {dtype} is not allowed')
        if any(s < 0 for s in shape) or int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != nbytes:
            raise ProtocolError(f'array {i}: shape {shape} x {dtype} does not match {nbytes} bytes')
        if offset < 0 or offset + nbytes > len(body):
            raise ProtocolError(f'array {i}: bytes [{offset}, {offset + nbytes}) outside the body '
                                f'of {len(body)} bytes')
        arrays.append(np.frombuffer(body, dtype=dtype, count=nbytes // max(dtype.itemsize, 1),
                                    offset=offset).reshape(shape).copy())
    return head['type'], _unpack_value(head.get('data'), arrays)


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Read exactly ``n`` bytes; raises :class:`ConnectionError` if the peer closes first."""
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ConnectionError(f'connection closed with {left} of {n} bytes unread')
        chunks.append(chunk)
        left -= len(chunk)
    return b''.join(chunks)


def recv_message(sock: socket.socket, max_bytes: int = DEFAULT_MAX_BYTES) -> Tuple[str, Any]:
    """Read one message; :class:`ProtocolError` for bad prefixes (the body is then left unread)."""
    header_len, body_len = parse_prefix(recv_exact(sock, PREFIX.size), max_bytes)
    header = recv_exact(sock, header_len)
    body = recv_exact(sock, body_len)
    return decode(header, body)


def discard(sock: socket.socket, n: int) -> None:
    """Read and drop ``n`` bytes (to skip an oversized message)."""
    while n > 0:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise ConnectionError('connection closed while discarding')
        n -= len(chunk)


def send_message(sock: socket.socket, msg_type: str, data: Any = None) -> None:
    sock.sendall(encode(msg_type, data))
