# Copyright (c) mmautomot contributors. All rights reserved.
"""Train a tiny MoTTransformer for 2 iterations, alone or under FSDP (one unit per joint layer); dump JSON.

``python fsdp_worker.py single OUT`` runs one process on the whole batch; ``torchrun --nproc_per_node 2
fsdp_worker.py fsdp OUT`` runs 2 gloo processes, rank r on sample r, wrapped by mmengine's
``MMFullyShardedDataParallel`` with the paper-scale config's wrapper settings (``mot_auto_wrap_policy``,
``use_orig_params``) on the CPU. Written: the per-iteration loss (averaged over ranks), the number of FSDP
units and the full state dict of a few tensors after training. Used by ``test_fsdp.py``.
"""

import json
import os
import sys

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from mmautomot.models.mot import JointLayer, MoTTransformer
from mmautomot.models.vlm import qwen3vl_preset

GROUPS = (3, 4)
PAPER_CFG = os.path.join(
    os.path.dirname(__file__),
    '..',
    '..',
    '..',
    'projects',
    'automot',
    'configs',
    'automot_qwen3vl-4b_8xb1-12e_nuscenes-e2e.py',
)
KEYS = (
    'mot.ae_layers.0.self_attn.q_proj.weight',
    'mot.ae_layers.1.mlp.down_proj.weight',
    'mot.ae_norm.weight',
    'mot.ue.hf.model.language_model.layers.1.mlp.up_proj.weight',
)


class Net(nn.Module):
    """Root module: the joint pass and an MSE on the AE output (per-sample means, so shards average)."""

    def __init__(self, checkpoint_layers=False):
        super().__init__()
        ue = dict(type='Qwen3VLUnderstandingExpert', config=qwen3vl_preset('tiny'), image_size=(32, 64), num_frames=2)
        self.mot = MoTTransformer(
            ue=ue, ae=dict(hidden_size=48, intermediate_size=96), cache_capacity=64, checkpoint_layers=checkpoint_layers
        )

    def forward(self, ue_batch, ae_in, target):
        _, ae = self.mot.forward_joint(ue_batch, ae_in, GROUPS)
        return F.mse_loss(ae, target)


def main(mode, out, checkpoint_layers):
    torch.manual_seed(0)
    net = Net(checkpoint_layers)
    g = torch.Generator().manual_seed(1)
    imgs = torch.randint(0, 256, (2, 2, 3, 32, 64), dtype=torch.uint8, generator=g)
    texts = ['go', 'turn left at the next junction']
    ae_in = torch.randn(2, sum(GROUPS), 48, generator=g)
    target = torch.randn(2, sum(GROUPS), 48, generator=g)
    rank, world = 0, 1
    if mode == 'fsdp':
        dist.init_process_group('gloo')
        rank, world = dist.get_rank(), dist.get_world_size()
        sl = slice(rank, rank + 1)
        batch = net.mot.ue.prepare_inputs(imgs[sl], texts[sl])
        ae_in, target = ae_in[sl], target[sl]
        from mmengine.config import Config
        from mmengine.model import MMFullyShardedDataParallel

        from mmautomot.utils import register_all_modules

        register_all_modules(init_default_scope=True)
        # the paper-scale config's wrapper, fp32 (exact comparison) and on the CPU
        wrapper = Config.fromfile(PAPER_CFG).strategy.model_wrapper.to_dict()
        if os.environ.get('MOT_BF16') != '1':
            wrapper.pop('mixed_precision')
        model = MMFullyShardedDataParallel(net, device_id=torch.device('cpu'), **wrapper)
        units = [m for m in model.modules() if isinstance(m, MMFullyShardedDataParallel.__mro__[1])]
        joint_units = [u for u in units if isinstance(u.module, JointLayer)]
        info = dict(units=len(units), joint_units=len(joint_units))
    else:
        batch = net.mot.ue.prepare_inputs(imgs, texts)
        model, info = net, {}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    losses = []
    for _ in range(2):
        loss = model(batch, ae_in, target)
        loss.backward()
        opt.step()
        opt.zero_grad()
        mean = loss.detach().clone()
        if world > 1:
            dist.all_reduce(mean)
            mean /= world
        losses.append(mean.item())
    if mode == 'fsdp':
        from torch.distributed.fsdp import FullStateDictConfig, StateDictType
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

        with FSDP.state_dict_type(model, StateDictType.FULL_STATE_DICT, FullStateDictConfig(rank0_only=False)):
            state = model.state_dict()
        # the full state dict loads back (strict) through the joint-layer units: one more step, then reload
        with torch.no_grad():
            trained_loss = model(batch, ae_in, target).item()
        model(batch, ae_in, target).backward()
        opt.step()
        with torch.no_grad():
            stepped_loss = model(batch, ae_in, target).item()
        with FSDP.state_dict_type(model, StateDictType.FULL_STATE_DICT, FullStateDictConfig(rank0_only=False)):
            result = model.load_state_dict(state, strict=True)
        with torch.no_grad():
            reloaded_loss = model(batch, ae_in, target).item()
        info.update(
            reload=dict(
                missing=list(result.missing_keys),
                unexpected=list(result.unexpected_keys),
                trained=trained_loss,
                stepped=stepped_loss,
                reloaded=reloaded_loss,
            )
        )
    else:
        state = model.state_dict()
    info.update(
        losses=losses,
        num_keys=len(state),
        joint_keys=sum(k.startswith('mot.joint_layers') for k in state),
        tensors={k: state[k].flatten()[:64].tolist() for k in KEYS},
    )
    if rank == 0:
        with open(out, 'w') as f:
            json.dump(info, f)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == '__main__':
    torch.set_num_threads(1)
    main(sys.argv[1], sys.argv[2], os.environ.get('MOT_CHECKPOINT_LAYERS') == '1')
