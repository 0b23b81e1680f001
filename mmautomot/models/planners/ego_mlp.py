# Copyright (c) mmautomot contributors. All rights reserved.
"""AD-MLP-style baseline: an MLP on ego state only."""

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmautomot.registry import MODELS
from mmautomot.structures import COMMANDS

from .base_ego_planner import BaseEgoPlanner


@MODELS.register_module()
class EgoMLPPlanner(BaseEgoPlanner):
    """Predict the future ego trajectory from ego history, ego status and the command.

    After AD-MLP (Zhai et al., "Rethinking the Open-Loop Evaluation of End-to-End Autonomous
    Driving in nuScenes", 2023), which showed that ego state alone reaches competitive nuScenes
    L2 numbers. The input vector concatenates ``ego_hist_trajs`` (H x 2, ego frame, metres),
    ``ego_status`` (speed m/s, lon acc, lat acc m/s^2, yaw rate rad/s) and a one-hot of
    ``command``; an MLP (Linear-ReLU blocks) outputs T x 2 future positions (ego frame, metres),
    trained with the masked L1 loss of :class:`BaseEgoPlanner`.

    Args:
        hist_steps (int): history length H. Defaults to 4.
        hidden_dims (Sequence[int]): hidden widths. Defaults to (512, 512).
        num_commands (int): one-hot size (indices of
            :data:`mmautomot.structures.COMMANDS`). Defaults to 6.
        use_hist (bool): use ``ego_hist_trajs``. Defaults to True.
        use_status (bool): use ``ego_status``. Defaults to True.
        use_command (bool): use ``command``. Defaults to True.
        **kwargs: :class:`BaseEgoPlanner` arguments (``fut_steps``, ``plan_dt``, ``loss_plan``,
            ``data_preprocessor``, ``init_cfg``).
    """

    def __init__(
        self,
        hist_steps: int = 4,
        hidden_dims: Sequence[int] = (512, 512),
        num_commands: int = len(COMMANDS),
        use_hist: bool = True,
        use_status: bool = True,
        use_command: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not (use_hist or use_status or use_command):
            raise ValueError('EgoMLPPlanner needs at least one of use_hist/use_status/use_command')
        self.hist_steps = int(hist_steps)
        self.num_commands = int(num_commands)
        self.use_hist, self.use_status, self.use_command = use_hist, use_status, use_command
        in_dim = 2 * self.hist_steps * use_hist + 4 * use_status + self.num_commands * use_command
        layers = []
        for width in hidden_dims:
            layers += [nn.Linear(in_dim, width), nn.ReLU(inplace=True)]
            in_dim = width
        layers.append(nn.Linear(in_dim, self.fut_steps * 2))
        self.mlp = nn.Sequential(*layers)

    def features(self, inputs: dict) -> Tensor:
        """(B, D) input vector of the MLP."""
        feats = []
        if self.use_hist:
            hist = self.batched(inputs, 'ego_hist_trajs').float()
            if hist.shape[1:] != (self.hist_steps, 2):
                raise ValueError(
                    f'EgoMLPPlanner: ego_hist_trajs is {tuple(hist.shape)}, expected '
                    f'(B, {self.hist_steps}, 2); set hist_steps'
                )
            feats.append(hist.flatten(1))
        if self.use_status:
            feats.append(self.batched(inputs, 'ego_status').float())
        if self.use_command:
            cmd = self.batched(inputs, 'command').long().reshape(-1)
            if ((cmd < 0) | (cmd >= self.num_commands)).any():
                raise ValueError(f'EgoMLPPlanner: command ids {cmd.tolist()} outside [0, {self.num_commands})')
            feats.append(F.one_hot(cmd, self.num_commands).float())
        device = next(self.mlp.parameters()).device
        return torch.cat([f.to(device) for f in feats], dim=1)

    def predict_trajs(self, inputs: dict) -> Tensor:
        """(B, T, 2) future positions, metres, ego frame."""
        return self.mlp(self.features(inputs)).view(-1, self.fut_steps, 2)
