# Copyright (c) mmautomot contributors. All rights reserved.
"""Convert a released AutoMoT checkpoint (OscarHuangWind/AutoMoT) to mmautomot's AutoMoT.

    python tools/model_converters/automot_official_to_mmautomot.py SRC_DIR DST.safetensors \
        [--file ema.safetensors] [--config CONFIG] [--allow-unmapped]

SRC_DIR holds the released safetensors (``ema.safetensors``, else ``model.safetensors``, else all shards; or
pass a file). DST ending in ``.pth`` is written as ``{'state_dict': ...}`` for mmengine's ``load_from``;
otherwise as safetensors (``projects.automot.automot.official_converter.load_released_weights``). Every key
without a mapping is printed and makes the exit status non-zero unless ``--allow-unmapped``. With
``--config`` (a released-layout AutoMoT config) the names and shapes are checked against the model built on
the meta device. Logic: ``projects/automot/automot/official_converter.py``.
"""

import argparse
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Convert released AutoMoT weights to mmautomot')
    parser.add_argument('src', help='released checkpoint folder or .safetensors file')
    parser.add_argument('dst', help='output .safetensors (or .pth)')
    parser.add_argument('--file', help='file name inside SRC_DIR (default: ema / model / all shards)')
    parser.add_argument('--config', help="check names/shapes against this config's model (meta device)")
    parser.add_argument('--allow-unmapped', action='store_true', help='write even if some keys have no mapping')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from projects.automot.automot.official_converter import check_against_model, convert_state_dict, read_released

    src = read_released(args.src, args.file)
    out, unmapped, dropped = convert_state_dict(src)
    for key, reason in sorted(dropped.items()):
        print(f'dropped {key}: {reason}')
    for key in unmapped:
        print(f'UNMAPPED {key} {tuple(src[key].shape)}', file=sys.stderr)
    status = 0
    if args.config:
        from mmengine.config import Config

        from mmautomot.registry import MODELS
        from mmautomot.utils import register_all_modules

        register_all_modules()
        import projects.automot.automot  # noqa: F401

        model_cfg = Config.fromfile(args.config).model.to_dict()
        model_cfg['mot']['ue']['pretrained'] = None
        with torch.device('meta'):
            model = MODELS.build(model_cfg)
        missing, problems = check_against_model(out, model)
        for p in problems:
            print(f'MISMATCH {p}', file=sys.stderr)
        for k in missing:
            print(f'not in checkpoint (stays initialised): {k}')
        status = 1 if problems else 0
    if unmapped and not args.allow_unmapped:
        print(
            f'{len(unmapped)} key(s) of {args.src} have no mapping (see UNMAPPED above); nothing written. '
            'Pass --allow-unmapped to write the rest.',
            file=sys.stderr,
        )
        return 1
    if status:
        print('shape/name mismatches against the config (see MISMATCH above); nothing written.', file=sys.stderr)
        return status
    out = {k: v.contiguous() for k, v in out.items()}
    if args.dst.endswith('.pth'):
        torch.save(dict(state_dict=out, meta=dict(converted_from=osp.abspath(args.src))), args.dst)
    else:
        from safetensors.torch import save_file

        save_file(out, args.dst, metadata=dict(converted_from='AutoMoT released checkpoint'))
    print(f'wrote {len(out)} tensors to {args.dst} ({len(dropped)} dropped, {len(unmapped)} unmapped)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
