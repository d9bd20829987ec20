"""The runner every LITv2 config declares (``runner_type = 'LITv2Runner'`` in
``configs/_base_/litv2_runtime.py``), so mmdet's, mmseg's and mmpretrain's own
``tools/train.py`` and ``tools/test.py`` (which build ``RUNNERS.build(cfg)`` when a config
names a runner) run a config exactly as ours do."""
import copy
import logging
import os
import os.path as osp
import pickle
import warnings
from typing import Any, Optional, Union

import torch
from mmengine.config import Config, ConfigDict
from mmengine.device import get_device
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner, find_latest_checkpoint

from ..checkpoint import check_checkpoint_file, checkpoint_load_error, resume_latest
from ..config import set_hook_args
from ..data_checks import check_dataloader_annotations, check_pipelines
from .amp import cpu_amp_config, inference_amp_config
from .distributed import prepare_cpu_distributed
from .hooks import DIVERGED_MARKER, ExactResumeHook
from .preemption import elastic_restart_count
from .sample_seeding import seed_every_sample


def warn_shared_rendezvous_store() -> bool:
    """Warn (and return True) when torchrun may restart this worker and shares its
    rendezvous store with the workers: that store keeps the keys of every attempt without a
    prefix, so restarted workers read the dead ones' NCCL ids or gloo addresses and hang or
    fail in ``init_process_group`` (pytorch/pytorch#135712). ``tools/dist_train.sh`` sets
    ``TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1``, which gives every attempt a new store."""
    shared = os.environ.get('TORCHELASTIC_USE_AGENT_STORE') == 'True'
    if not shared or int(os.environ.get('TORCHELASTIC_MAX_RESTARTS', '0') or 0) == 0:
        return False
    print_log('torchrun may restart this worker (--max-restarts > 0) and shares its '
              'rendezvous store with the workers: a restart would hang in '
              'init_process_group. Launch torchrun with TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 '
              '(tools/dist_train.sh does)', logger='current', level=logging.WARNING)
    return True


CUBLAS_DETERMINISTIC = ':4096:8'


def prepare_deterministic(cfg: Config) -> bool:
    """``randomness.deterministic`` (``--deterministic``) on CUDA: torch refuses cuBLAS calls
    in deterministic mode unless ``CUBLAS_WORKSPACE_CONFIG`` is ``:4096:8`` or ``:16:8``
    (mmengine does not set it), so it is set here, before any CUDA work, unless the
    environment sets it already. Returns whether deterministic mode is asked for."""
    if not (cfg.get('randomness') or {}).get('deterministic'):
        return False
    if 'CUBLAS_WORKSPACE_CONFIG' not in os.environ:
        os.environ['CUBLAS_WORKSPACE_CONFIG'] = CUBLAS_DETERMINISTIC
        print_log(f'deterministic mode: CUBLAS_WORKSPACE_CONFIG={CUBLAS_DETERMINISTIC} (cuBLAS '
                  'needs it; set it yourself to choose :16:8)', logger='current')
    return True


def check_not_diverged(work_dir: str) -> None:
    """Raise if the run in ``work_dir`` stopped because it diverged (the marker
    :class:`~litv2_mm.engine.FiniteLossHook` writes), naming it and the way on."""
    marker = osp.join(work_dir, DIVERGED_MARKER)
    if osp.exists(marker):
        with open(marker) as f:
            error = f.read().strip()
        raise FloatingPointError(
            f'not restarting: this run diverged ({marker}: {error}); a restart from the last '
            'checkpoint would diverge again. Fix the cause, then start the run again with '
            '--resume (which removes the marker).')


def keep_resumed_seed(cfg: Config) -> Optional[int]:
    """A resumed run without a seed of its own (``randomness.seed``, ``--seed``) takes the
    seed of the run it continues, from the checkpoint, before anything is built; returns it.

    mmengine sets the checkpoint's seed too, but in ``Runner.resume``, after the train
    dataloader was built with a new random seed: its sampler would shuffle in another order
    and the per-sample augmentation seeds would differ from the uninterrupted run's. The
    checkpoint's ``meta`` is read memory-mapped (the weights are not read)."""
    randomness = cfg.get('randomness') or {}
    if not cfg.get('resume') or randomness.get('seed') is not None:
        return None
    path = cfg.get('load_from') or (cfg.get('work_dir') and
                                    find_latest_checkpoint(cfg.work_dir))
    if not path or not osp.isfile(path):
        return None  # none yet, or not a local file: mmengine reports it when it resumes
    try:
        seed = torch.load(path, map_location='cpu', weights_only=True, mmap=True)['meta']['seed']
    except Exception:  # a broken file is named by the runner's own checks when it loads it
        return None
    if seed is not None:
        cfg.randomness = dict(randomness, seed=seed)
        print_log(f'resuming with the seed of the run in {path}: {seed} (no seed is set)',
                  logger='current', level=logging.WARNING)
    return seed


DEPRECATED_KEYS = {'allow_partial_load': ('CheckpointFitHook', 'allow_partial'),
                   'nonfinite_loss': ('FiniteLossHook', 'on_nonfinite')}
"""Top-level config keys of earlier litv2_mm versions -> (hook, argument) that replaces them."""


def move_deprecated_keys(cfg: Config) -> list[str]:
    """Move the options earlier configs set as top-level keys (:data:`DEPRECATED_KEYS`) to
    the arguments of their hooks, with a deprecation warning naming the new form; returns
    the keys moved. A key whose hook the config does not declare is dropped with the warning
    (it had no effect without the hook either)."""
    moved = [key for key in DEPRECATED_KEYS if key in cfg]
    for key in moved:
        hook, arg = DEPRECATED_KEYS[key]
        value = cfg.pop(key)
        message = (f'the config key {key} is deprecated: set it on the hook, '
                   f"custom_hooks=[..., dict(type='{hook}', {arg}={value!r}), ...]")
        warnings.warn(message, DeprecationWarning, stacklevel=2)
        print_log(message, logger='current', level=logging.WARNING)
        if any(h.get('type') == hook for h in cfg.get('custom_hooks') or []):
            set_hook_args(cfg, hook, **{arg: value})
    return moved


def resume_after_elastic_restart(cfg: Config) -> Optional[str]:
    """A worker that torchrun's elastic agent restarted (``TORCHELASTIC_RESTART_COUNT`` > 0,
    after a worker of the job died) resumes from the latest checkpoint in the work dir
    (:func:`~litv2_mm.checkpoint.resume_latest`), unless the run stopped because it diverged
    (:func:`check_not_diverged` raises then). Returns the checkpoint resumed from."""
    restarts = elastic_restart_count()
    if not restarts or not cfg.get('work_dir'):
        return None
    check_not_diverged(cfg.work_dir)
    found = resume_latest(cfg)
    print_log(f'torchrun restarted this worker ({restarts} restarts): '
              + (f'resuming from {found}' if found else 'no checkpoint in '
                 f'{cfg.work_dir} yet, starting again'),
              logger='current', level=logging.WARNING)
    return found


@RUNNERS.register_module()
class LITv2Runner(Runner):
    """mmengine's ``Runner`` plus the set-up and checks that must happen before it builds.

    Before anything is built (:meth:`from_cfg`, in this order, on a copy of the config):

    1. :func:`warn_shared_rendezvous_store`: a restartable torchrun that would hang;
    2. :func:`move_deprecated_keys`: options of earlier configs move to their hooks;
    3. :func:`resume_after_elastic_restart`: a worker torchrun restarted resumes from the
       latest checkpoint, unless the run diverged;
    4. :func:`keep_resumed_seed`: a resumed run without a seed takes the checkpoint's;
    5. :func:`prepare_deterministic`: ``--deterministic`` gets the cuBLAS setting it needs;
    6. :func:`~litv2_mm.engine.prepare_cpu_distributed`: a distributed launch without CUDA
       runs on CPUs (gloo).

    While it builds (mmengine's ``build_*`` methods, extended):

    * a train / val / test loop: its annotation files and the heads' ``num_classes`` checked
      first (:func:`~litv2_mm.data_checks.check_dataloader_annotations`); evaluation under
      autocast on a CPU (:func:`~litv2_mm.engine.inference_amp_config`);
    * a dataloader: its pipeline names the image or label map it fails on, after a sample was
      checked (:func:`~litv2_mm.data_checks.check_pipelines`), and its augmentations are
      seeded per sample (:func:`~litv2_mm.engine.seed_every_sample`);
    * the optimizer wrapper: ``--amp`` on a machine without a GPU runs bf16 CPU autocast
      (:func:`~litv2_mm.engine.amp.cpu_amp_config`).

    Checkpoints: a file that is truncated, not a checkpoint or refused by the safe loader
    fails naming the file (and the ``trusted://`` opt-in) before it is read
    (:meth:`load_checkpoint`); every rank's random states are gathered when one is written
    (:meth:`save_checkpoint`).
    """

    @classmethod
    def from_cfg(cls, cfg: Union[Config, ConfigDict]) -> 'LITv2Runner':
        cfg = copy.deepcopy(cfg)
        warn_shared_rendezvous_store()
        move_deprecated_keys(cfg)
        resume_after_elastic_restart(cfg)
        keep_resumed_seed(cfg)
        prepare_deterministic(cfg)
        prepare_cpu_distributed(cfg)
        return super().from_cfg(cfg)

    @staticmethod
    def build_dataloader(dataloader: Union[dict, Any], seed: Optional[int] = None,
                         diff_rank_seed: bool = False) -> Any:
        """Runner.build_dataloader, then the pipelines of its dataset name the image they fail
        on (:func:`~litv2_mm.data_checks.check_pipelines`) and its augmentations are seeded per
        sample from the run's seed (:func:`~litv2_mm.engine.seed_every_sample`)."""
        dataloader = Runner.build_dataloader(dataloader, seed=seed, diff_rank_seed=diff_rank_seed)
        check_pipelines(dataloader.dataset)
        return seed_every_sample(dataloader, seed)

    def build_optim_wrapper(self, optim_wrapper: Union[dict, Any]) -> Any:
        """Runner.build_optim_wrapper, with ``--amp`` on a CPU-only machine: see
        :func:`~litv2_mm.engine.amp.cpu_amp_config`."""
        return super().build_optim_wrapper(cpu_amp_config(optim_wrapper))

    def build_train_loop(self, loop: Union[dict, Any]) -> Any:
        """Runner.build_train_loop (which builds the train dataloader), its annotation files
        checked first: :func:`~litv2_mm.data_checks.check_dataloader_annotations`."""
        self._check_annotations(loop, 'train')
        return super().build_train_loop(loop)

    def build_val_loop(self, loop: Union[dict, Any]) -> Any:
        """Runner.build_val_loop, annotations checked first (see :meth:`build_train_loop`),
        evaluation under autocast on a CPU: see :func:`~litv2_mm.engine.inference_amp_config`.
        """
        self._check_annotations(loop, 'val')
        return super().build_val_loop(inference_amp_config(loop, get_device(), 'ValLoop'))

    def build_test_loop(self, loop: Union[dict, Any]) -> Any:
        """Runner.build_test_loop, as :meth:`build_val_loop`."""
        self._check_annotations(loop, 'test')
        return super().build_test_loop(inference_amp_config(loop, get_device(), 'TestLoop'))

    def _check_annotations(self, loop: Union[dict, Any], split: str) -> None:
        if isinstance(loop, dict):  # a loop still to build builds the split's dataloader
            check_dataloader_annotations(self.cfg, split)

    def save_checkpoint(self, out_dir: str, filename: str, *args: Any, **kwargs: Any) -> None:
        """Runner.save_checkpoint, which writes on rank 0 only but is called on every rank
        (by the CheckpointHook and the PreemptionHook): first every rank's random states are
        gathered for the checkpoint (:meth:`ExactResumeHook.gather_rank_states`), the one
        collective they need, only when a checkpoint is written."""
        for hook in self.hooks:
            if isinstance(hook, ExactResumeHook):
                hook.gather_rank_states()
        return super().save_checkpoint(out_dir, filename, *args, **kwargs)

    def load_checkpoint(self, filename: str, map_location: Any = 'cpu', strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]  # noqa: B006 (mmengine's)
                        ) -> dict:
        """Runner.load_checkpoint, the file checked first (:func:`check_checkpoint_file`) and a
        refusal of the safe loader named with the opt-in (:func:`checkpoint_load_error`)."""
        check_checkpoint_file(filename)
        try:
            return super().load_checkpoint(filename, map_location=map_location, strict=strict,
                                           revise_keys=revise_keys)
        except pickle.UnpicklingError as e:
            raise checkpoint_load_error(filename, e) from e
