"""The runner every LITv2 config declares (``runner_type = 'LITv2Runner'`` in
``configs/_base_/litv2_runtime.py``), so mmdet's, mmseg's and mmpretrain's own
``tools/train.py`` and ``tools/test.py`` (which build ``RUNNERS.build(cfg)`` when a config
names a runner) run a config exactly as ours do."""
import copy
import logging
import pickle

from mmengine.device import get_device
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from ..datasets import check_dataloader_annotations, check_pipelines
from ..utils import check_checkpoint_file, checkpoint_load_error
from .amp import cpu_amp_config, inference_amp_config
from .distributed import prepare_cpu_distributed
from .preemption import elastic_restart_count, resume_latest


@RUNNERS.register_module()
class LITv2Runner(Runner):
    """mmengine's ``Runner`` plus the checks and set-up that must happen before it builds:

    * a distributed launch on a machine without CUDA is set up for CPUs (gloo) before the
      runner starts: :func:`~litv2_mm.engine.prepare_cpu_distributed`;
    * a worker that torchrun's elastic agent restarted (``TORCHELASTIC_RESTART_COUNT`` > 0,
      after a worker of the job died) resumes from the latest checkpoint in the work dir:
      :func:`~litv2_mm.engine.resume_latest`;
    * before a train / val / test dataloader is built (all of them before the first
      training iteration), its annotation files (exist, parse, COCO entries valid, the
      config's classes present) and the heads' ``num_classes`` are checked
      (:func:`~litv2_mm.datasets.check_dataloader_annotations`); once built, a sample of
      its items is loaded and checked, and its pipeline names the image or label map it
      fails on (:func:`~litv2_mm.datasets.check_pipelines`);
    * a checkpoint that is truncated or not a checkpoint fails naming the file, before it is
      read; one the safe loader refuses fails naming the file, the refused type and the
      ``trusted://`` opt-in (its fit to the model is checked by ``CheckpointFitHook``);
    * ``AmpOptimWrapper`` (``--amp``) on a machine without a GPU becomes
      :class:`~litv2_mm.engine.CPUAmpOptimWrapper` (bf16 CPU autocast) instead of failing;
    * evaluation under autocast (``val_cfg`` / ``test_cfg`` ``fp16=True``) on a CPU runs
      the feature extractor in bf16 (:class:`~litv2_mm.engine.CPUAmpTestLoop`), or in fp32
      with a warning where the CPU has no native bf16.
    """

    @classmethod
    def from_cfg(cls, cfg):
        cfg = copy.deepcopy(cfg)
        restarts = elastic_restart_count()
        if restarts and cfg.get('work_dir'):
            found = resume_latest(cfg)
            print_log(f'torchrun restarted this worker ({restarts} restarts): '
                      + (f'resuming from {found}' if found else 'no checkpoint in '
                         f'{cfg.work_dir} yet, starting again'),
                      logger='current', level=logging.WARNING)
        prepare_cpu_distributed(cfg)
        return super().from_cfg(cfg)

    @staticmethod
    def build_dataloader(dataloader, seed=None, diff_rank_seed=False):
        """Runner.build_dataloader, then the pipelines of its dataset name the image they fail
        on: :func:`~litv2_mm.datasets.check_pipelines`."""
        dataloader = Runner.build_dataloader(dataloader, seed=seed, diff_rank_seed=diff_rank_seed)
        check_pipelines(dataloader.dataset)
        return dataloader

    def build_optim_wrapper(self, optim_wrapper):
        """Runner.build_optim_wrapper, with ``--amp`` on a CPU-only machine: see
        :func:`~litv2_mm.engine.amp.cpu_amp_config`."""
        return super().build_optim_wrapper(cpu_amp_config(optim_wrapper))

    def build_train_loop(self, loop):
        """Runner.build_train_loop (which builds the train dataloader), its annotation files
        checked first: :func:`~litv2_mm.datasets.check_dataloader_annotations`."""
        self._check_annotations(loop, 'train')
        return super().build_train_loop(loop)

    def build_val_loop(self, loop):
        """Runner.build_val_loop, annotations checked first (see :meth:`build_train_loop`),
        evaluation under autocast on a CPU: see :func:`~litv2_mm.engine.inference_amp_config`.
        """
        self._check_annotations(loop, 'val')
        return super().build_val_loop(inference_amp_config(loop, get_device(), 'ValLoop'))

    def build_test_loop(self, loop):
        """Runner.build_test_loop, as :meth:`build_val_loop`."""
        self._check_annotations(loop, 'test')
        return super().build_test_loop(inference_amp_config(loop, get_device(), 'TestLoop'))

    def _check_annotations(self, loop, split):
        if isinstance(loop, dict):  # a loop still to build builds the split's dataloader
            check_dataloader_annotations(self.cfg, split)

    def load_checkpoint(self, filename, map_location='cpu', strict=False,
                        revise_keys=[(r'^module.', '')]):  # noqa: B006 (mmengine's signature)
        self.loading_checkpoint = filename  # named by CheckpointFitHook
        check_checkpoint_file(filename)
        try:
            return super().load_checkpoint(filename, map_location=map_location, strict=strict,
                                           revise_keys=revise_keys)
        except pickle.UnpicklingError as e:
            raise checkpoint_load_error(filename, e) from e
