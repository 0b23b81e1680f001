# Copyright (c) mmautomot contributors. All rights reserved.
"""Make a config's distributed settings work on machines without CUDA.

``configs/_base_/default_runtime.py`` keeps ``env_cfg.dist_cfg.backend='nccl'`` (the right choice on
GPUs). MMEngine 0.10.7 cannot run that on CPU: ``init_dist`` calls ``torch.cuda.set_device`` before
creating the process group, and the Runner wraps the model in ``MMDistributedDataParallel`` with
``device_ids=[LOCAL_RANK]``, which DDP rejects for a CPU module. :func:`prepare_dist_env` (called by
``tools/train.py`` and ``tools/test.py``) fixes both when a launcher is used and CUDA is not
available: it switches the backend to ``gloo``, creates the process group itself (so the Runner
skips ``init_dist``) and sets ``model_wrapper_cfg.device_ids=None`` (``FlexibleRunner``: the strategy's
wrapper, ``device_id='cpu'`` for FSDP). With CUDA it changes nothing.
"""

import datetime
import os

import torch
import torch.distributed as dist
from mmengine.config import Config, ConfigDict

_DDP_TYPES = ('MMDistributedDataParallel', 'mmengine.MMDistributedDataParallel')
_FLEXIBLE_RUNNERS = ('FlexibleRunner', 'mmengine.FlexibleRunner')
_FSDP_STRATEGIES = ('FSDPStrategy', 'mmengine.FSDPStrategy')
_DDP_STRATEGIES = ('DDPStrategy', 'mmengine.DDPStrategy')


def prepare_dist_env(cfg: Config, launcher: str) -> bool:
    """Adapt ``cfg`` in place for a distributed run on CPU (gloo).

    Args:
        cfg (Config): The full config; ``env_cfg``, ``model_wrapper_cfg`` may be changed.
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.

    Returns:
        bool: True if the CPU (gloo) path was taken.

    Raises:
        RuntimeError: For a ``slurm``/``mpi`` launcher without CUDA (only ``pytorch``, i.e.
            torchrun, is supported on CPU) or a model wrapper that cannot run on CPU.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if launcher != 'pytorch':
        raise RuntimeError(
            f"launcher='{launcher}' needs CUDA with MMEngine 0.10.7; on CPU use "
            'tools/dist_train.sh (torchrun, --launcher pytorch).'
        )
    env_cfg = cfg.get('env_cfg') or ConfigDict()
    dist_cfg = dict(env_cfg.get('dist_cfg') or {})
    dist_cfg['backend'] = 'gloo'
    env_cfg['dist_cfg'] = dist_cfg
    cfg.env_cfg = env_cfg

    if cfg.get('runner_type') in _FLEXIBLE_RUNNERS:
        _prepare_strategy_on_cpu(cfg)
    else:
        _prepare_ddp_wrapper_on_cpu(cfg)

    if not dist.is_initialized():
        kwargs = {k: v for k, v in dist_cfg.items() if k != 'backend'}
        if 'timeout' in kwargs and not isinstance(kwargs['timeout'], datetime.timedelta):
            kwargs['timeout'] = datetime.timedelta(seconds=kwargs['timeout'])
        dist.init_process_group(
            backend='gloo', rank=int(os.environ['RANK']), world_size=int(os.environ['WORLD_SIZE']), **kwargs
        )
    return True


def _prepare_ddp_wrapper_on_cpu(cfg: Config) -> None:
    """``Runner``: the DDP wrapper without device ids."""
    wrapper = cfg.get('model_wrapper_cfg')
    wrapper = ConfigDict(type='MMDistributedDataParallel') if wrapper is None else wrapper
    if wrapper.get('type', 'MMDistributedDataParallel') not in _DDP_TYPES:
        raise RuntimeError(
            f"model_wrapper_cfg type '{wrapper.get('type')}' is not supported "
            'on CPU; use MMDistributedDataParallel or a CUDA machine.'
        )
    wrapper['device_ids'] = None  # wins over the Runner's default device_ids=[LOCAL_RANK]
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper


def _prepare_strategy_on_cpu(cfg: Config) -> None:
    """``FlexibleRunner``: DDP / FSDP strategies run on the CPU; DeepSpeed needs CUDA.

    ``FSDPStrategy`` passes ``device_id=LOCAL_RANK`` (a CUDA index) to FSDP; ``device_id='cpu'`` runs FSDP on
    the CPU (torch's FSDP refuses CPU modules only when no device is given). ``DDPStrategy`` gets
    ``device_ids=None`` as the ``Runner`` path does.
    """
    strategy = cfg.get('strategy') or ConfigDict(type='DDPStrategy')
    kind = strategy.get('type', 'DDPStrategy')
    wrapper = ConfigDict(strategy.get('model_wrapper') or {})
    if kind in _FSDP_STRATEGIES:
        wrapper.setdefault('type', 'MMFullyShardedDataParallel')
        wrapper['device_id'] = 'cpu'
    elif kind in _DDP_STRATEGIES:
        wrapper.setdefault('type', 'MMDistributedDataParallel')
        wrapper['device_ids'] = None
        wrapper.setdefault('broadcast_buffers', False)
        wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
    else:
        raise RuntimeError(
            f"strategy type '{kind}' is not supported on CPU; use DDPStrategy / FSDPStrategy "
            'or a CUDA machine (DeepSpeed needs CUDA).'
        )
    strategy['model_wrapper'] = wrapper
    cfg.strategy = strategy


def finalize_dist_env(exit_process: bool = False) -> None:
    """Tear the process group down at the end of a distributed run.

    Left to interpreter exit, gloo's worker threads can be destroyed while still joinable ("terminate called
    without an active exception", exit -6) after a run that otherwise succeeded; a barrier and an explicit
    ``destroy_process_group`` end every rank cleanly. No-op when not distributed.

    Args:
        exit_process (bool): for the CPU (gloo) backend only: after tearing down, flush the streams and the
            logging handlers and end the process with ``os._exit(0)``. The c10d rendezvous store and gloo keep
            C++ threads whose static destructors can still abort at interpreter exit on a loaded machine
            (seen in one of our CI-like runs, not reproduced in isolation) although every rank finished. The
            tools call this at their very end, so nothing is skipped but the C++ teardown. Defaults to False.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    gloo = dist.get_backend() == 'gloo'
    dist.barrier()
    dist.destroy_process_group()
    if exit_process and gloo:
        import logging
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(0)
