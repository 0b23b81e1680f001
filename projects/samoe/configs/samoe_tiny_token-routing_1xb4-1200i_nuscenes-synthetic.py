# Routing ablation: the same tiny SAMoE-VLA with token-level top-2 routing (router on each Planning-expert
# token, the usual MoE) instead of scene-level soft routing from the BEV scene vector.
_base_ = ['./samoe_tiny_1xb4-1200i_nuscenes-synthetic.py']

model = dict(moe=dict(routing='token', top_k=2))
