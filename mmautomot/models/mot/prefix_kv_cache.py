# Copyright (c) mmautomot contributors. All rights reserved.
"""A pre-allocated, per-layer key/value cache of the understanding-expert prefix."""

import time
from typing import List, Optional, Tuple

import torch
from torch import Tensor


class PrefixKVCache:
    """Per-layer keys/values of the understanding expert (UE) prefix, written once, read many times.

    Paper: AutoMoT asynchronous inference (the UE runs at a low rate; the action expert reads its cached
    keys/values at every control tick). Storage is allocated once with a fixed ``capacity``; a UE refresh
    overwrites positions ``[0, length)`` of every layer; an AE pass only reads the views returned by
    :meth:`get` (never copies into, grows or modifies the storage). Keys are stored *after* the q/k norm
    and the rotary embedding, exactly as they enter attention.

    Args:
        num_layers (int): number of decoder layers.
        batch_size (int): B.
        num_kv_heads (int): key/value heads.
        head_dim (int): head size.
        capacity (int): maximum number of UE tokens.
        dtype (torch.dtype): storage dtype. Defaults to float32.
        device (str | torch.device): storage device. Defaults to 'cpu'.

    Attributes:
        length (int): number of valid UE positions (0 = empty).
        key_valid (Tensor): (B, capacity) bool, real (non-padding) UE tokens.
        next_position (Tensor): (B,) long, the rotary position of the first AE token (one past the
            largest UE M-RoPE position of each sample).
        created_tick (int | None): scheduler tick of the last refresh; created_time (float): its wall time.
    """

    def __init__(
        self,
        num_layers: int,
        batch_size: int,
        num_kv_heads: int,
        head_dim: int,
        capacity: int,
        dtype: torch.dtype = torch.float32,
        device='cpu',
    ):
        shape = (batch_size, num_kv_heads, capacity, head_dim)
        self.keys: List[Tensor] = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        self.values: List[Tensor] = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        self.capacity = capacity
        self.batch_size = batch_size
        self.length = 0
        self.key_valid = torch.zeros(batch_size, capacity, dtype=torch.bool, device=device)
        self.next_position = torch.zeros(batch_size, dtype=torch.long, device=device)
        self.created_tick: Optional[int] = None
        self.created_time: Optional[float] = None
        self._writing = False

    @property
    def num_layers(self) -> int:
        return len(self.keys)

    def begin_write(self, key_valid: Tensor, next_position: Tensor, tick: Optional[int] = None) -> None:
        """Start a refresh: set the valid-token mask (B, L_u) and the AE start positions (B,)."""
        bsz, n = key_valid.shape
        if bsz != self.batch_size:
            raise ValueError(f'PrefixKVCache: batch size {bsz} != allocated {self.batch_size}')
        if n > self.capacity:
            raise ValueError(
                f'PrefixKVCache: {n} UE tokens exceed the capacity {self.capacity}; '
                'raise `cache_capacity` in the model config'
            )
        self.length = n
        self.key_valid.zero_()
        self.key_valid[:, :n] = key_valid.bool()
        self.next_position.copy_(next_position.reshape(-1))
        self.created_tick = tick
        self.created_time = time.monotonic()
        self._writing = True

    def write(self, layer_idx: int, key: Tensor, value: Tensor) -> None:
        """Store one layer's UE keys/values ``(B, n_kv, L_u, D)`` (only between begin/end_write)."""
        if not self._writing:
            raise RuntimeError(
                'PrefixKVCache.write called outside begin_write()/end_write() '
                '(the cache is read-only during an action-expert pass)'
            )
        if key.shape[2] != self.length:
            raise ValueError(f'PrefixKVCache: layer {layer_idx} key length {key.shape[2]} != {self.length}')
        self.keys[layer_idx][:, :, : self.length].copy_(key.detach())
        self.values[layer_idx][:, :, : self.length].copy_(value.detach())

    def end_write(self) -> None:
        self._writing = False

    def get(self, layer_idx: int) -> Tuple[Tensor, Tensor]:
        """Read-only views ``(B, n_kv, length, D)`` of one layer's keys and values."""
        if self.length == 0:
            raise RuntimeError('PrefixKVCache is empty: run the understanding expert (ue_tick) first')
        return (self.keys[layer_idx][:, :, : self.length], self.values[layer_idx][:, :, : self.length])

    def valid(self) -> Tensor:
        """(B, length) bool mask of real UE tokens."""
        return self.key_valid[:, : self.length]

    def age(self, tick: int) -> int:
        """Ticks since the last refresh (a large number if never written)."""
        return 1 << 30 if self.created_tick is None else tick - self.created_tick

    def nbytes(self) -> int:
        """Allocated bytes of the key/value storage."""
        return sum(t.numel() * t.element_size() for t in self.keys + self.values)
