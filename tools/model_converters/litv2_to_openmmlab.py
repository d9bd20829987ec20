"""Convert the authors' LITv2 checkpoints into OpenMMLab checkpoints that load safely.

* ImageNet files (weights under ``model``; ``norm.*`` and ``head.*``) become an mmpretrain
  ``ImageClassifier`` checkpoint for configs/classification (``backbone.*``,
  ``backbone.norm3.*``, ``head.fc.*``).
* COCO / ADE20K files (``state_dict`` with ``backbone.``) keep their keys; only the weights
  are kept, so the result loads with ``weights_only=True``.

    python tools/model_converters/litv2_to_openmmlab.py litv2_s.pth litv2_s_mmpretrain.pth
"""
import argparse

import torch

from litv2_mm.checkpoint import checkpoint_state_dict, load_checkpoint_file


def convert(ckpt):
    """The weights of the authors' checkpoint ``ckpt`` in OpenMMLab key names (the layout
    map of :func:`litv2_mm.checkpoint_state_dict`).

    Returns:
        (OrderedDict, str): the state dict to save under ``'state_dict'``, and the layout
        it came in: ``'imagenet'`` (``model``) or ``'openmmlab'`` (``state_dict``).
    """
    if not any(isinstance(ckpt.get(key), dict) for key in ('model', 'state_dict')):
        raise ValueError(f"no 'model' or 'state_dict' in the checkpoint (keys: {list(ckpt)[:8]})")
    return checkpoint_state_dict(ckpt)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help="the authors' checkpoint (local path or URL)")
    parser.add_argument('dst', help='output checkpoint path')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='SRC pickles other objects (the authors\' files carry a yacs '
                             'config): allow it for this trusted file')
    args = parser.parse_args()
    ckpt = load_checkpoint_file(args.src, trusted=args.trust_checkpoint)
    state, kind = convert(ckpt)
    torch.save({'state_dict': state, 'meta': {'converted_from': str(args.src), 'kind': kind}},
               args.dst)
    print(f'{args.src} ({kind}): {len(state)} tensors -> {args.dst}')


if __name__ == '__main__':
    main()
