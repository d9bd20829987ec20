"""Write the model zoo (README.md's tables, each config folder's README.md) from model-index.yml.

README.md's tables go between the markers ``<!-- model-zoo:start -->`` and
``<!-- model-zoo:end -->``; every config folder with a metafile gets a whole README.md in the
OpenMMLab layout (title, abstract, the folder's results table, citation), written from its
metafile and the folder texts below. Every config under configs/*/ (but configs/_base_ and
configs/deploy) must be listed in a metafile and every listed config must exist.

    python tools/gen_model_zoo.py            # rewrite README.md and configs/*/README.md
    python tools/gen_model_zoo.py --check    # exit 1 if one of them or the index is out of date
"""
import argparse
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
START, END = '<!-- model-zoo:start -->', '<!-- model-zoo:end -->'
METRIC_ORDER = ('Top 1 Accuracy', 'box AP', 'mask AP', 'mIoU')
GENERATOR = 'python tools/gen_model_zoo.py'

PAPER_URL = 'https://arxiv.org/abs/2205.13213'
PAPER = ('Fast Vision Transformers with HiLo Attention', 'Zizheng Pan, Jianfei Cai, Bohan Zhuang',
         'NeurIPS 2022')
CITATION = """@inproceedings{pan2022hilo,
  title={Fast Vision Transformers with HiLo Attention},
  author={Pan, Zizheng and Cai, Jianfei and Zhuang, Bohan},
  booktitle={Advances in Neural Information Processing Systems (NeurIPS)},
  year={2022},
  eprint={2205.13213},
  archivePrefix={arXiv}
}"""
# What LITv2 is: the first paragraph of the abstract of every config folder's README.
METHOD = (
    'LITv2 is a hierarchical vision transformer built for speed measured on hardware rather '
    'than for FLOPs alone. A 4 x 4 stride-4 patch embedding feeds four stages of C, 2C, 4C '
    'and 8C channels; stages 1 and 2 hold no attention (their blocks are ConvFFN only), '
    'stages 3 and 4 use HiLo attention. HiLo splits the heads of one layer in two: the Hi-Fi '
    'heads attend inside non-overlapping s x s windows and keep the high frequencies (local '
    'detail), the Lo-Fi heads (a fraction alpha, 0.9 in every model here) attend from every '
    'position to keys and values average-pooled over the same windows and keep the low '
    'frequencies (global structure). ConvFFN puts a 3 x 3 depthwise convolution between its '
    'two linear layers, the only positional encoding; Deformable Token Merging (a 2 x 2 '
    'stride-2 deformable convolution) downsamples between stages. In the paper\'s one-layer '
    'benchmark (14 x 14 tokens, dim 768, batch 64) HiLo runs 1,029 images/s on a CPU and '
    '5,104 on an RTX 3090 against multi-head self-attention\'s 505 and 4,403, with 298M '
    'FLOPs against 521M; LITv2-S reaches 82.0 % ImageNet-1K top-1 at 1,471 images/s on an '
    'RTX 3090.')
PUBLISHED = ('Metrics, parameters and FLOPs are the paper\'s published figures, not '
             'measurements of this repository; a dash: none published.')
# config folder -> (title, what the folder's configs train, notes under the results table)
FOLDERS = {
    'classification': (
        'LITv2: ImageNet-1K classification',
        'These configs train LITv2-S, -M and -B as mmpretrain image classifiers (LayerNorm on '
        'the last stage, global average pooling, a linear head) on ImageNet-1K at 224 x 224 '
        'with the paper\'s recipe, the DeiT / Swin one: 300 epochs, AdamW with lr 1e-3 for a '
        'total batch of 1024 (8 GPUs x 128), weight decay 0.05, 20 warm-up epochs then cosine '
        'decay, gradient clipping 5, RandAugment, Mixup, CutMix, label smoothing and random '
        'erasing, and DTM\'s offset convolutions at 0.01 x the learning rate.',
        'FLOPs at 224 x 224. The weights are the authors\' release files (weights under '
        '`model`; LITv2 loads them through `init_cfg`, '
        '`tools/model_converters/litv2_to_openmmlab.py` converts them to an mmpretrain '
        'checkpoint).'),
    'retinanet': (
        'RetinaNet with LITv2',
        'These configs train mmdet\'s RetinaNet with an FPN (start level 1, extra '
        'convolutions on the input, 5 levels) on a LITv2 backbone initialised from the '
        'authors\' ImageNet weights, with the paper\'s COCO 1x recipe: 12 epochs with the '
        'learning rate stepped at epochs 8 and 11, total batch 16, AdamW with lr 1e-4 and '
        'weight decay 1e-4 (none on norms), 1333 x 800 resize with random flip, mixed '
        'precision (`--amp`). `*_ws4_1x.py` use a stage-3 HiLo window of 4 instead of 2: '
        'cheaper on large images at a small cost in AP.',
        'COCO val2017, FLOPs at 1280 x 800. The authors published no COCO weights as release '
        'files: each config starts from the ImageNet backbone named in its `init_cfg`.'),
    'mask_rcnn': (
        'Mask R-CNN with LITv2',
        'These configs train mmdet\'s Mask R-CNN with an FPN on a LITv2 backbone initialised '
        'from the authors\' ImageNet weights, with the paper\'s COCO 1x recipe: 12 epochs '
        'with the learning rate stepped at epochs 8 and 11, total batch 16, AdamW with lr '
        '2e-4 and weight decay 1e-4 (none on norms), 1333 x 800 resize with random flip, '
        'mixed precision (`--amp`). `*_ws4_1x.py` use a stage-3 HiLo window of 4 instead of '
        '2: cheaper on large images at a small cost in AP. `*_ms_3x.py` train the same '
        'networks with mmdet\'s Swin-T 3x recipe (`swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-'
        '3x_coco.py`) and the paper\'s optimizer and batch: random flip, then either a resize '
        'to a shorter side of 480 to 800 or a resize to 400 to 600, a random crop of 384 to 600 '
        'and a resize to 480 to 800; 36 epochs with the learning rate stepped at epochs 27 and '
        '33.',
        'COCO val2017, FLOPs at 1280 x 800. The authors published no COCO weights as release '
        'files: each config starts from the ImageNet backbone named in its `init_cfg`. '
        '`litv2_s_1x_synthetic.py` is the demo of `tools/run_demo.sh` ([docs/demo.md]'
        '(../../docs/demo.md)). No 3x results: the paper reports 1x only and the `*_ms_3x.py` '
        'configs were not trained here, so their rows list the configs only (their networks '
        'are the 1x ones, with the 1x rows\' parameters and FLOPs).'),
    'cascade_mask_rcnn': (
        'Cascade Mask R-CNN with LITv2',
        'These configs train mmdet\'s Cascade Mask R-CNN with an FPN on a LITv2 backbone '
        'initialised from the authors\' ImageNet weights, as mmdet ships it for ConvNeXt-T '
        '(`convnext/cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py`'
        ', the layout of Swin\'s cascade models): three box heads of four 3 x 3 convolutions '
        'with SyncBN and one fully connected layer (4conv1fc), with a GIoU loss on decoded '
        'boxes, and three mask heads. Training follows mmdet\'s Swin-T 3x recipe, as '
        '`../mask_rcnn/*_ms_3x.py` do, with the paper\'s detection optimizer: random flip, '
        'then either a resize to a shorter side of 480 to 800 or a resize to 400 to 600, a '
        'random crop of 384 to 600 and a resize to 480 to 800; 36 epochs with the learning '
        'rate stepped at epochs 27 and 33, total batch 16, AdamW with lr 2e-4 and weight decay '
        '1e-4 (none on norms), mixed precision (`--amp`).',
        'No results: the paper reports no Cascade Mask R-CNN result and these configs were not '
        'trained here, so the table lists the configs only. The built models have 85.2M '
        '(LITv2-S), 106.2M (LITv2-M) and 143.7M (LITv2-B) parameters, counted here '
        '(`tests/configs/test_configs.py`), not published. On CPU-only distributed runs '
        '`LITv2Runner` builds the SyncBN layers as BN.'),
    'sem_fpn': (
        'Semantic FPN with LITv2',
        'These configs train mmseg\'s Semantic FPN on a LITv2 backbone initialised from the '
        'authors\' ImageNet weights, with the paper\'s ADE20K recipe: 80k iterations, total '
        'batch 16 (2 images x 8 GPUs), 512 x 512 crops, AdamW with lr 1e-4 and weight decay '
        '1e-4.',
        'ADE20K val, single-scale mIoU, FLOPs at 512 x 512.'),
    'upernet': (
        'UperNet with LITv2',
        'These configs train mmseg\'s UperNet (with an auxiliary FCN head on stage 3) on a '
        'LITv2 backbone initialised from the authors\' ImageNet weights, with mmseg\'s Swin-T '
        'UperNet recipe so that results compare with Swin-T: 160k iterations, total batch 16 '
        '(2 images x 8 GPUs), 512 x 512 crops, AdamW with lr 6e-5 and weight decay 0.01 (none '
        'on norms), 1500 linear warm-up iterations then poly decay.',
        'The paper reports no UperNet result, so the table lists the configs only.'),
}
SYNTHETIC_NOTE = ('`*_synthetic.py`: the same model on the embedded synthetic data '
                  '(`litv2_mm.synthetic_data`, nothing downloaded), sized for a CPU; no '
                  'results.')


class ModelIndexError(ValueError):
    """The model index, a metafile or README.md is inconsistent; the message says how."""


def load_model_index(repo=REPO):
    """(collections, models) from ``repo/model-index.yml`` and the metafiles it imports,
    in import order; each model dict gains ``Collection`` (its collection dict)."""
    repo = Path(repo)
    index_file = repo / 'model-index.yml'
    if not index_file.is_file():
        raise ModelIndexError(f'{index_file} not found')
    collections, models = {}, []
    for metafile in yaml.safe_load(index_file.read_text()).get('Import') or []:
        path = repo / metafile
        if not path.is_file():
            raise ModelIndexError(f'model-index.yml imports {metafile}, which does not exist')
        meta = yaml.safe_load(path.read_text()) or {}
        for coll in meta.get('Collections') or []:
            collections[coll['Name']] = coll
        for model in meta.get('Models') or []:
            if model.get('In Collection') not in collections:
                raise ModelIndexError(f"{metafile}: model {model.get('Name')!r} is in unknown "
                                      f"collection {model.get('In Collection')!r}")
            models.append(dict(model, Collection=collections[model['In Collection']]))
    return collections, models


NOT_MODELS = ('_base_', 'deploy')
"""Folders of configs/ that hold no model configs (bases; mmdeploy's deploy configs)."""


def config_files(repo=REPO):
    """Model config paths (posix, relative to repo) under configs/*/, without the folders of
    NOT_MODELS."""
    repo = Path(repo)
    return sorted(p.relative_to(repo).as_posix() for p in (repo / 'configs').glob('*/**/*.py')
                  if p.relative_to(repo / 'configs').parts[0] not in NOT_MODELS)


def index_problems(repo=REPO):
    """Messages for configs missing from the index, listed configs that do not exist and
    duplicate model names; empty when the index is complete."""
    _, models = load_model_index(repo)
    listed = [m.get('Config') for m in models]
    problems = [f'{c}: config not listed in any metafile' for c in config_files(repo)
                if c not in listed]
    problems += [f"{m['Name']}: config {m.get('Config')} does not exist" for m in models
                 if not (Path(repo) / str(m.get('Config'))).is_file()]
    names = [m['Name'] for m in models]
    problems += [f'{n}: model name used twice' for n in sorted(set(names)) if names.count(n) > 1]
    return problems


def _si(value, unit=''):
    """28000000 -> '28M', 3700000000 -> '3.7G'."""
    for scale, suffix in ((1e9, 'G'), (1e6, 'M'), (1e3, 'K')):
        if value >= scale:
            return f'{value / scale:.4g}{suffix}{unit}'
    return f'{value:g}{unit}'


def _metrics(model):
    return {name: value for result in model.get('Results') or []
            for name, value in (result.get('Metrics') or {}).items()}


def render_table(rows, link=lambda config: config):
    """Markdown table of ``rows`` (model, config, data, params, FLOPs, metrics, weights); a dash
    marks what was not published. ``link`` maps a config path to the link target."""
    metric_names = sorted({k for m in rows for k in _metrics(m)},
                          key=lambda k: METRIC_ORDER.index(k) if k in METRIC_ORDER else 99)
    header = ['model', 'config', 'training data', 'params', 'FLOPs', *metric_names, 'weights']
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for m in rows:
        meta, metrics = m.get('Metadata') or {}, _metrics(m)
        cells = [m['Name'], f"[{Path(m['Config']).name}]({link(m['Config'])})",
                 meta.get('Training Data', '-'),
                 _si(meta['Parameters']) if 'Parameters' in meta else '-',
                 _si(meta['FLOPs']) if 'FLOPs' in meta else '-',
                 *[f'{metrics[k]:.1f}' if k in metrics else '-' for k in metric_names],
                 f"[download]({m['Weights']})" if m.get('Weights') else '-']
        lines.append('| ' + ' | '.join(str(c) for c in cells) + ' |')
    return '\n'.join(lines)


def unpublished(rows):
    """The names of the models in ``rows`` without results (but the synthetic demos)."""
    return [m['Name'] for m in rows
            if not m.get('Results') and not m['Config'].endswith('_synthetic.py')]


def render_tables(collections, models):
    """Markdown for README.md: a note, then one table per collection, each followed by the
    models it lists without results, if any."""
    blocks = []
    for name in collections:
        rows = [m for m in models if m['In Collection'] == name]
        block = f'### {name}\n\n' + render_table(rows)
        names = unpublished(rows)
        if names:
            block += (f'\n\nNo published results for {", ".join(f"`{n}`" for n in names)}: '
                      'the paper reports none and '
                      f'{"these configs were" if len(names) > 1 else "this config was"} not '
                      'trained here.')
        blocks.append(block)
    note = ('Generated by `python tools/gen_model_zoo.py` from model-index.yml. Metrics, '
            'parameters and FLOPs are the paper\'s published figures (FLOPs at 224 x 224 on '
            'ImageNet, 1280 x 800 on COCO, 512 x 512 on ADE20K); a dash: none published.')
    return '\n\n'.join([note, *blocks])


def config_folder(model):
    """'configs/retinanet' for a model whose config is configs/retinanet/litv2_s_1x.py."""
    return Path(model['Config']).parent.as_posix()


def render_folder_readme(folder, models):
    """The README.md of config folder ``folder`` (e.g. 'configs/retinanet') in the OpenMMLab
    layout: title, paper, abstract, the folder's results table, usage, citation."""
    key = Path(folder).name
    if key not in FOLDERS:
        raise ModelIndexError(f'{folder} has a metafile but no text for its README.md: add an '
                              f'entry {key!r} to FOLDERS in tools/gen_model_zoo.py')
    title, recipe, notes = FOLDERS[key]
    rows = [m for m in models if config_folder(m) == folder]
    synthetic = any(m['Config'].endswith('_synthetic.py') for m in rows)
    first = next((m['Config'] for m in rows if not m['Config'].endswith('_synthetic.py')),
                 rows[0]['Config'])
    return '\n'.join([
        f'# {title}', '',
        f'<!-- Generated by `{GENERATOR}` from {folder}/metafile.yml: edit that file or the '
        'generator, then run it. -->', '',
        f'> [{PAPER[0]}]({PAPER_URL})  ',
        f'> {PAPER[1]}, {PAPER[2]}', '',
        '<!-- [BACKBONE] -->', '',
        '## Abstract', '', METHOD, '', recipe, '',
        '## Results and models', '', render_table(rows, link=lambda c: Path(c).name), '',
        ' '.join([PUBLISHED, notes] + ([SYNTHETIC_NOTE] if synthetic else [])), '',
        '## Usage', '',
        'From the repository root (details: [docs/training.md](../../docs/training.md)):', '',
        '```bash',
        f'python tools/train.py {first}',
        f'python tools/test.py {first} CHECKPOINT',
        '```', '',
        '## Citation', '',
        '```bibtex', CITATION, '```', ''])


def folder_readmes(repo=REPO):
    """{path of a config folder's README.md: its generated text}, one per folder with models."""
    _, models = load_model_index(repo)
    folders = dict.fromkeys(config_folder(m) for m in models)
    return {Path(repo) / folder / 'README.md': render_folder_readme(folder, models)
            for folder in folders}


def update_readme(text, tables):
    """README text with ``tables`` between the markers (which must each appear once)."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise ModelIndexError(f'README.md needs exactly one {START} line followed by one {END} '
                              'line: add them where the model zoo should go')
    head, rest = text.split(START)
    return f'{head}{START}\n{tables}\n{END}{rest.split(END, 1)[1]}'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--check', action='store_true',
                        help='do not write; exit 1 if README.md, a config folder\'s README.md '
                        'or the index is out of date')
    parser.add_argument('--repo', type=Path, default=REPO, help='repository root')
    args = parser.parse_args(argv)
    readme = args.repo / 'README.md'
    try:
        problems = index_problems(args.repo)
        if problems:
            raise ModelIndexError('model index incomplete:\n  ' + '\n  '.join(problems))
        text = readme.read_text()
        files = {readme: (text, update_readme(text, render_tables(*load_model_index(args.repo))))}
        for path, new in folder_readmes(args.repo).items():
            files[path] = (path.read_text() if path.is_file() else None, new)
    except ModelIndexError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    stale = [path for path, (old, new) in files.items() if old != new]
    if args.check:
        for path in stale:
            state = 'is out of date' if files[path][0] is not None else 'does not exist'
            print(f'{path} {state}: run {GENERATOR}', file=sys.stderr)
        if stale:
            return 1
        print(f'{readme} and {len(files) - 1} config folder READMEs are up to date')
        return 0
    for path in stale:
        path.write_text(files[path][1])
    print(f'{readme}: model zoo written; {len(files) - 1} config folder READMEs written '
          f'({len(stale)} changed)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
