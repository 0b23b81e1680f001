# Copyright (c) mmautomot contributors. All rights reserved.
"""Publish a trained checkpoint: weights only (EMA weights when the run used EMAHook), as safetensors, with the
first 8 hex digits of its sha256 in the file name (as mmdet's publish_model.py does for .pth files).

    python tools/model_converters/publish_model.py work_dirs/x/iter_600.pth releases/automot_tiny.safetensors
    -> releases/automot_tiny-1a2b3c4d.safetensors
"""

import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmautomot.utils.publish import publish_checkpoint  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description='Publish a checkpoint as safetensors with its sha256 in the name')
    parser.add_argument('in_file', help='checkpoint written by tools/train.py (.pth) or a safetensors file')
    parser.add_argument('out_file', help='output path; "-<sha256[:8]>" is added before .safetensors')
    args = parser.parse_args(argv)
    if not osp.isfile(args.in_file):
        sys.exit(f'no such checkpoint: {args.in_file}')
    result = publish_checkpoint(args.in_file, args.out_file)
    print(json.dumps(result, indent=2))
    return result


if __name__ == '__main__':
    main()
