# What every LITv2 config declares besides its model, data and schedule, so that our
# tools/train.py and tools/test.py and mmdet's, mmseg's and mmpretrain's own tools run it
# the same way (they build the runner a config names):
# - LITv2Runner: checks every annotation file before anything is built (exists, parses,
#   has the config's classes), names the image a pipeline fails on, sets up CPU-only
#   distributed runs (gloo), names the opt-in for checkpoints the safe loader refuses;
# - ExactResumeHook: every rank's random states saved with every checkpoint, restored on
#   --resume (the augmentations are seeded per sample by LITv2Runner, workers included);
# - CheckpointFitHook: a checkpoint whose tensors do not fit the model fails before any
#   training or evaluation; allow_partial_load=True loads only what fits, on purpose;
# - FiniteLossHook: the first iteration with a NaN or infinite loss on any rank, or NaN or
#   infinite weights after its step, stops every rank, named, before a checkpoint of the
#   diverged weights is written; torchrun's restarts do not replay it; nonfinite_loss='warn'
#   goes on;
# - PreemptionHook: on SIGTERM or SIGUSR1 (slurm, Kubernetes, torchrun) the run finishes the
#   iteration in flight, writes a checkpoint of it (every rank stops at the same one) and
#   exits with status 75 (the dataloader workers leave the signal to it); --resume
#   continues it exactly.
# Iteration-based configs also use train_cfg type 'ResumableIterBasedTrainLoop' (resumes
# without loading the trained batches again), epoch-based ones 'ResumableEpochBasedTrainLoop'
# (resumes in the middle of an epoch), and every config writes its checkpoints with the
# 'atomic_local' file backend (default_hooks.checkpoint.backend_args).
custom_imports = dict(imports=['litv2_mm'], allow_failed_imports=False)
runner_type = 'LITv2Runner'
custom_hooks = [dict(type='ExactResumeHook'), dict(type='CheckpointFitHook'),
                dict(type='FiniteLossHook'), dict(type='PreemptionHook')]
allow_partial_load = False
nonfinite_loss = 'error'  # or "warn"
