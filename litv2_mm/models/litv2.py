"""LITv2 backbone: one class for mmdet, mmseg and mmpretrain (registered in mmengine's root
``MODELS``, which the three libraries' registries look up)."""
import warnings
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks import DropPath
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from mmengine.registry import MODELS

from ..checkpoint import load_pretrained_backbone
from .convffn import ConvFFN, DepthwiseConv
from .cpu_inference import cpu_speedups_enabled, inference_dtype
from .dtm import DeformableTokenMerging
from .hilo import HiLoAttention


class PatchEmbed(nn.Module):
    """4x4 stride-4 conv + LayerNorm. (B, 3, H, W) -> tokens (B, H'*W', C), H' = ceil(H / 4).

    The image is zero-padded on the right and bottom to a multiple of 4 first (always when
    traced for ONNX, where a zero pad is a no-op: the graph then fits every image size). The
    LayerNorm takes its input in its own dtype (fp32 under autocast), so the residual stream of the
    first stage is fp32 under every autocast, as that of the later stages (a CPU's autocast
    would otherwise keep LayerNorm in the conv's bf16, a GPU's does not).
    """

    def __init__(self, in_channels: int, embed_dims: int, patch_size: int = 4) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, embed_dims, patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dims)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        H, W = x.shape[-2:]
        p = self.patch_size
        if H % p or W % p or torch.jit.is_tracing():  # a traced graph pads for every size
            x = F.pad(x, (0, (-W) % p, 0, (-H) % p))
        x = self.proj(x)
        Hs, Ws = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2).to(self.norm.weight.dtype)
        return self.norm(x), Hs, Ws


class LITv2Block(nn.Module):
    """``x + DropPath(HiLo(LN(x)))`` (attention stages only), then ``x + DropPath(ConvFFN(LN(x)))``.

    Tokens (B, H*W, C) -> (B, H*W, C). In CPU inference the second half runs in cache-sized
    chunks (:meth:`ConvFFN.residual_in_chunks`) where ``cpu_speedups`` (read when the block
    is built, see :mod:`~litv2_mm.models.cpu_inference`) is on.
    """

    def __init__(self, dim: int, num_heads: int, window_size: int, alpha: float,
                 mlp_ratio: float = 4., qkv_bias: bool = True, qk_scale: Optional[float] = None,
                 drop: float = 0., attn_drop: float = 0., drop_path: float = 0.) -> None:
        super().__init__()
        self.has_attn = window_size > 0
        if self.has_attn:
            self.norm1 = nn.LayerNorm(dim)
            self.attn = HiLoAttention(dim, num_heads=num_heads, qkv_bias=qkv_bias,
                                      qk_scale=qk_scale, attn_drop=attn_drop, proj_drop=drop,
                                      window_size=window_size, alpha=alpha)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = ConvFFN(dim, int(dim * mlp_ratio), drop=drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.cpu_speedups = cpu_speedups_enabled()

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        if self.has_attn:
            x = x + self.drop_path(self.attn(self.norm1(x), H, W))
        dtype = inference_dtype(x, self)
        if dtype is not None:  # the same, in cache-sized chunks
            return self.mlp.residual_in_chunks(x, self.norm2, H, W, dtype)
        return x + self.drop_path(self.mlp(self.norm2(x), H, W))


class LITv2Stage(nn.Module):
    """Blocks of one stage, then (``downsample``: all but the last stage) deformable token
    merging."""

    def __init__(self, dim: int, depth: int, num_heads: int, window_size: int, alpha: float,
                 drop_paths: Sequence[float], downsample: bool = True, with_cp: bool = False,
                 **block_kwargs: object) -> None:
        super().__init__()
        self.with_cp = with_cp
        self.blocks = nn.ModuleList([
            LITv2Block(dim, num_heads, window_size, alpha, drop_path=drop_paths[j], **block_kwargs)
            for j in range(depth)
        ])
        self.downsample = DeformableTokenMerging(dim, dim * 2) if downsample else None

    def forward(self, x: torch.Tensor, H: int,
                W: int) -> tuple[torch.Tensor, Optional[torch.Tensor], int, int]:
        """Returns (stage output (B, H*W, C), merged tokens or None, H', W')."""
        for blk in self.blocks:
            if self.with_cp and x.requires_grad:
                x = cp.checkpoint(blk, x, H, W, use_reentrant=False)
            else:
                x = blk(x, H, W)
        if self.downsample is None:
            return x, None, H, W
        merged, Ho, Wo = self.downsample(x, H, W)
        return x, merged, Ho, Wo


@MODELS.register_module()
class LITv2(BaseModule):
    """LITv2 (Pan et al., "Fast Vision Transformers with HiLo Attention", NeurIPS 2022).

    Args:
        arch (str | dict): 'small' | 'medium' | 'base' (or 's' | 'm' | 'b'), or a dict with
            ``embed_dims`` (int), ``depths`` and ``num_heads`` (4 ints each).
        in_channels (int): image channels. Default 3.
        alpha (float): share of HiLo heads given to Lo-Fi, in [0, 1]. Default 0.9.
        window_size (Sequence[int]): HiLo window per stage, 0 = stage without attention,
            1 = plain multi-head attention. Default (0, 0, 2, 1). (``local_ws``, the authors'
            name, is still accepted, with a deprecation warning.)
        mlp_ratio (float): ConvFFN expansion. Default 4.
        qkv_bias (bool), qk_scale (float | None): attention projections.
        drop_rate, attn_drop_rate, drop_path_rate (float): regularisation; stochastic depth
            rises linearly from 0 to ``drop_path_rate`` over all blocks.
        out_indices (Sequence[int]): stages whose outputs (strides 4/8/16/32) are returned.
        out_norms (bool): LayerNorms ``norm1..norm3`` on stage outputs 2-4, as the authors'
            dense-prediction backbone has them. Default True.
        frozen_stages (int): -1 = train all; k >= 0 freezes the stem and stages 1..k
            (parameters frozen, kept in eval mode).
        norm_eval (bool): keep the DTM BatchNorms in eval mode while training.
        with_cp (bool): activation checkpointing of every block.
        init_cfg (dict | None): ``dict(type='Pretrained', checkpoint=PATH_OR_URL,
            prefix=None | 'backbone.', trusted=False)`` loads the authors' ImageNet, COCO or
            ADE20K weights or a checkpoint of ours; every key that does not load is logged.
    """

    arch_zoo = {
        **dict.fromkeys(['s', 'small'], dict(embed_dims=96, depths=(2, 2, 6, 2),
                                             num_heads=(3, 6, 12, 24))),
        **dict.fromkeys(['m', 'medium'], dict(embed_dims=96, depths=(2, 2, 18, 2),
                                              num_heads=(3, 6, 12, 24))),
        **dict.fromkeys(['b', 'base'], dict(embed_dims=128, depths=(2, 2, 18, 2),
                                            num_heads=(4, 8, 16, 32))),
    }

    def __init__(self, arch: Union[str, dict] = 'small', in_channels: int = 3,
                 alpha: float = 0.9, window_size: Sequence[int] = (0, 0, 2, 1),
                 mlp_ratio: float = 4., qkv_bias: bool = True, qk_scale: Optional[float] = None,
                 drop_rate: float = 0., attn_drop_rate: float = 0., drop_path_rate: float = 0.2,
                 out_indices: Sequence[int] = (0, 1, 2, 3), out_norms: bool = True,
                 frozen_stages: int = -1, norm_eval: bool = False, with_cp: bool = False,
                 init_cfg: Optional[dict] = None, local_ws: Optional[Sequence[int]] = None
                 ) -> None:
        super().__init__(init_cfg=init_cfg)
        if local_ws is not None:
            warnings.warn('LITv2: local_ws is deprecated, pass window_size (the same per-stage '
                          'windows; the name HiLoAttention uses)', DeprecationWarning,
                          stacklevel=2)
            window_size = local_ws
        arch = self._resolve_arch(arch)
        self.embed_dims = arch['embed_dims']
        self.depths = tuple(arch['depths'])
        self.num_heads = tuple(arch['num_heads'])
        self.num_stages = len(self.depths)
        self._check_args(in_channels, alpha, window_size, out_indices, frozen_stages,
                         drop_path_rate)
        self.in_channels = in_channels
        self.alpha = alpha
        self.window_size = tuple(window_size)
        self.out_indices = tuple(sorted(i % self.num_stages for i in out_indices))
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.mlp_ratio = mlp_ratio
        self.qkv_bias = qkv_bias
        self.qk_scale = qk_scale
        self.drop_rate, self.attn_drop_rate = drop_rate, attn_drop_rate
        self.drop_path_rate = drop_path_rate
        self.channels = tuple(self.embed_dims * 2 ** i for i in range(self.num_stages))

        self.patch_embed = PatchEmbed(in_channels, self.embed_dims)
        self.pos_drop = nn.Dropout(drop_rate)
        dpr = torch.linspace(0, drop_path_rate, sum(self.depths)).tolist()
        self.layers = nn.ModuleList()
        for i, depth in enumerate(self.depths):
            start = sum(self.depths[:i])
            self.layers.append(LITv2Stage(
                self.channels[i], depth, self.num_heads[i], self.window_size[i], alpha,
                drop_paths=dpr[start:start + depth],
                downsample=i < self.num_stages - 1, with_cp=with_cp, mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias, qk_scale=qk_scale, drop=drop_rate, attn_drop=attn_drop_rate))
        self.out_norms = out_norms
        if out_norms:
            for i in self.out_indices:
                if i > 0:
                    self.add_module(f'norm{i}', nn.LayerNorm(self.channels[i]))
        self._freeze_stages()

    def _resolve_arch(self, arch: Union[str, dict]) -> dict:
        if isinstance(arch, str):
            key = arch.lower()
            if key not in self.arch_zoo:
                raise ValueError(f'LITv2: unknown arch {arch!r}; choose one of '
                                 f'{sorted(set(self.arch_zoo))} or pass a dict')
            return dict(self.arch_zoo[key])
        if not isinstance(arch, dict):
            raise TypeError(f'LITv2: arch must be a str or a dict, got {type(arch).__name__}')
        missing = {'embed_dims', 'depths', 'num_heads'} - set(arch)
        if missing:
            raise ValueError(f'LITv2: arch dict lacks {sorted(missing)}')
        if len(arch['depths']) != 4 or len(arch['num_heads']) != 4:
            raise ValueError(f"LITv2: arch depths and num_heads need 4 entries, got "
                             f"depths={arch['depths']}, num_heads={arch['num_heads']}")
        return arch

    def _check_args(self, in_channels: int, alpha: float, window_size: Sequence[int],
                    out_indices: Sequence[int], frozen_stages: int,
                    drop_path_rate: float) -> None:
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f'LITv2: in_channels must be a positive int, got {in_channels!r}')
        if not 0. <= float(alpha) <= 1.:
            raise ValueError(f'LITv2: alpha must lie in [0, 1], got {alpha!r}')
        if len(window_size) != self.num_stages or any(not isinstance(s, int) or s < 0
                                                      for s in window_size):
            raise ValueError(f'LITv2: window_size needs {self.num_stages} ints >= 0 '
                             f'(0 = no attention, 1 = plain MSA), got {window_size!r}')
        for i, heads in enumerate(self.num_heads):
            dim = self.embed_dims * 2 ** i
            if heads < 1 or dim % heads:
                raise ValueError(f'LITv2: num_heads[{i}]={heads} must divide the stage width {dim}')
        for i in out_indices:
            if not isinstance(i, int) or not -self.num_stages <= i < self.num_stages:
                raise ValueError(f'LITv2: out_indices entry {i!r} out of range '
                                 f'[0, {self.num_stages - 1}]')
        if not -1 <= frozen_stages <= self.num_stages:
            raise ValueError(f'LITv2: frozen_stages must lie in [-1, {self.num_stages}], '
                             f'got {frozen_stages!r}')
        if not 0. <= drop_path_rate < 1.:
            raise ValueError(f'LITv2: drop_path_rate must lie in [0, 1), got {drop_path_rate!r}')

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen = [self.patch_embed] + [self.layers[i] for i in range(self.frozen_stages)]
        frozen += [getattr(self, f'norm{i}') for i in range(1, self.frozen_stages)
                   if hasattr(self, f'norm{i}')]
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'LITv2':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def init_weights(self) -> None:
        if self.init_cfg is not None and self.init_cfg.get('type') == 'Pretrained':
            load_pretrained_backbone(self, self.init_cfg, logger=MMLogger.get_current_instance())
            self._is_init = True
            return
        if self.init_cfg is not None:
            return super().init_weights()
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, DepthwiseConv):
                m.init_weights()
        self._is_init = True

    def get_layer_depth(self, param_name: str, prefix: str = '') -> tuple[int, int]:
        """(layer depth of ``param_name``, number of depths), the convention of mmpretrain's
        ``LearningRateDecayOptimWrapperConstructor`` (as its Swin's): the patch embedding is
        depth 0, block j of stage i is ``sum(depths[:i]) + j + 1``, a stage's token merging
        and output norm share the depth of its last block, and everything else (or a name
        without ``prefix``: necks, heads) is the last depth, ``sum(depths) + 1``."""
        num_layers = sum(self.depths) + 2
        if not param_name.startswith(prefix):
            return num_layers - 1, num_layers
        name = param_name[len(prefix):]
        parts = name.split('.')
        if parts[0] == 'patch_embed':
            return 0, num_layers
        if parts[0] == 'layers':
            stage = int(parts[1])
            if parts[2] == 'blocks':
                return sum(self.depths[:stage]) + int(parts[3]) + 1, num_layers
            return sum(self.depths[:stage + 1]), num_layers  # the token merging
        if parts[0].startswith('norm') and parts[0][4:].isdigit():
            return sum(self.depths[:int(parts[0][4:]) + 1]), num_layers
        return num_layers - 1, num_layers

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(B, in_channels, H, W), any H, W >= 1 -> tuple of (B, C_i, ceil(H/4)/2^i..., ...) maps
        for ``out_indices`` (stage i of an H x W image has ceil(H / 4) // 2**i rows, at least 1)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'LITv2 expects input of shape (B, {self.in_channels}, H, W), '
                             f'got {tuple(x.shape)}')
        x, H, W = self.patch_embed(x)
        x = self.pos_drop(x)
        outs = []
        for i, stage in enumerate(self.layers):
            out, x, Ho, Wo = stage(x, H, W)
            if i in self.out_indices:
                if i > 0 and self.out_norms:
                    out = getattr(self, f'norm{i}')(out)
                # contiguous NCHW, not a channels-last view: mmcv's RoIAlign (Mask R-CNN)
                # reads its input's memory as NCHW whatever the strides say
                outs.append(out.transpose(1, 2).reshape(out.shape[0], -1, H, W).contiguous())
            if x is None:
                break
            H, W = Ho, Wo
        return tuple(outs)
