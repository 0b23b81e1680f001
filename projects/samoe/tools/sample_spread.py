# Copyright (c) mmautomot contributors. All rights reserved.
"""Spread of SAMoE-VLA's sampled plans over flow noise draws on the val set; prints JSON.

    python projects/samoe/tools/sample_spread.py CONFIG CHECKPOINT [--draws 5] [--max-batches 20]

For every val sample the model samples ``--draws`` plans from different Gaussian noise (seeds 0..draws-1);
reported: ``spread_m`` the mean over samples and steps of the per-coordinate standard deviation across draws
(metres), ``spread_final_m`` the same at the last step, ``l2_avg_m`` the mean L2 of the draws to the GT over
valid steps (all steps, no protocol), and ``num_samples``. SAMoE-VLA argues scene-level routing reduces the
variance of the trajectories compared with token-level routing; this measures the spread of ours.
"""

import argparse
import json

import torch
from mmengine.runner import Runner

from mmautomot.apis import init_model


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--draws', type=int, default=5)
    p.add_argument('--max-batches', type=int, default=20)
    args = p.parse_args()
    torch.set_num_threads(1)
    model = init_model(args.config, args.checkpoint)
    cfg = model.cfg
    loader = Runner.build_dataloader(cfg.val_dataloader)
    spreads, finals, l2s, n = [], [], [], 0
    with torch.no_grad():
        for i, batch in enumerate(loader):
            if i >= args.max_batches:
                break
            data = model.data_preprocessor(batch, False)
            inputs, samples = data['inputs'], data['data_samples']
            bsz = inputs['ego_status'].shape[0]
            plans = []
            for d in range(args.draws):
                g = torch.Generator().manual_seed(d)
                noise = torch.randn(bsz, model.head.horizon, model.head.action_dim, generator=g)
                plans.append(model.sample_actions(inputs, samples, noise=noise)['waypoints'])
            plans = torch.stack(plans)  # (D, B, H, 2)
            std = plans.std(dim=0)  # (B, H, 2)
            spreads.append(std.mean(dim=(1, 2)))
            finals.append(std[:, -1].mean(dim=-1))
            gt = torch.stack([torch.as_tensor(s.gt_ego_fut_trajs) for s in samples]).float()
            mask = torch.stack([torch.as_tensor(s.gt_ego_fut_masks) for s in samples]).float()
            err = (plans - gt[None]).norm(dim=-1)  # (D, B, H)
            l2s.append((err * mask[None]).sum(dim=(0, 2)) / (mask.sum(-1) * args.draws).clamp(min=1))
            n += bsz
    out = dict(
        num_samples=n,
        draws=args.draws,
        spread_m=float(torch.cat(spreads).mean()),
        spread_final_m=float(torch.cat(finals).mean()),
        l2_avg_m=float(torch.cat(l2s).mean()),
    )
    print(json.dumps(out))


if __name__ == '__main__':
    main()
