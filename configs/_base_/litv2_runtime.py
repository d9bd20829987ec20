# What every LITv2 config declares besides its model, data and schedule, so that our
# tools/train.py and tools/test.py and mmdet's, mmseg's and mmpretrain's own tools run it
# the same way (they build the runner a config names). The hooks' options are their
# arguments, with their defaults written out here:
# - LITv2Runner: checks every annotation file before anything is built (exists, parses,
#   has the config's classes), names the image a pipeline fails on, seeds augmentations per
#   sample, sets up CPU-only distributed runs (gloo), names the opt-in for checkpoints the
#   safe loader refuses;
# - ExactResumeHook: every rank's random states saved with every checkpoint, restored on
#   --resume;
# - CheckpointFitHook: a checkpoint whose tensors do not fit the model fails before any
#   training or evaluation; allow_partial=True (--allow-partial-load) loads what fits;
# - FiniteLossHook: the first iteration with a NaN or infinite loss on any rank, or NaN or
#   infinite weights after its step, stops every rank, named, before a checkpoint of the
#   diverged weights is written; torchrun's restarts do not replay it; on_nonfinite='warn'
#   logs and goes on;
# - PreemptionHook: on SIGTERM or SIGUSR1 (slurm, Kubernetes, torchrun) the run finishes the
#   iteration in flight, writes a checkpoint of it (every rank stops at the same one) and
#   exits with status 75 (the dataloader workers leave the signal to it); --resume
#   continues it exactly.
# Two settings cannot come from here: the train loop (ResumableEpochBasedTrainLoop or
# ResumableIterBasedTrainLoop: a resumed run continues where it stopped without loading the
# trained batches again) and the checkpoint file backend ('atomic_local': a checkpoint is
# complete or absent). They live in train_cfg and default_hooks, which the mmdet / mmseg /
# mmpretrain config that every LITv2 config also inherits sets, and mmengine refuses a key
# set by two bases of one config ("Duplicate key is not allowed among bases"). So each
# config family's root (litv2_s_*.py) sets both, once for the family; tests/configs checks
# that every training config ends up with them.
custom_imports = dict(imports=['litv2_mm'], allow_failed_imports=False)
runner_type = 'LITv2Runner'
custom_hooks = [
    dict(type='ExactResumeHook'),
    dict(type='CheckpointFitHook', allow_partial=False),
    dict(type='FiniteLossHook', on_nonfinite='error'),
    dict(type='PreemptionHook', signals=('SIGTERM', 'SIGUSR1'), exit_status=75),
]
