# Run (or fine-tune) the released AutoMoT weights: the paper-scale released layout with the two quirks its
# weights were trained with switched on (both off for new training, see _base_/released_recipe.py):
#   * model.path_head.released_cumsum_quirk: the released route head sums its (dx, dy) deltas over the
#     coordinate axis (each point = (dx, dx + dy) of its own token), not over the 20 points;
#   * model.mot.ue_attention='released': image blocks bidirectional; the instruction block after the images
#     bidirectional in training mode, causal in eval mode (the released training vs inference masks).
# Convert the checkpoint first (safetensors in, .pth out for mmengine's load_from):
#   python tools/model_converters/automot_official_to_mmautomot.py RELEASED_DIR \
#       checkpoints/automot_released_mmautomot.pth \
#       --config projects/automot/configs/automot_qwen3vl-4b_released-weights.py
# The BEV encoder is not part of the released checkpoint (the release trains it apart): load its weights
# separately or train it. Decision token ids: see meta_action_head in the base config.
_base_ = ['./automot_qwen3vl-4b_8xb1-12e_nuscenes-e2e.py']

model = dict(mot=dict(ue_attention='released'), path_head=dict(released_cumsum_quirk=True))
load_from = 'checkpoints/automot_released_mmautomot.pth'
