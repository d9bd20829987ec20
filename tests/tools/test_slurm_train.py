"""tools/slurm_train.sh against stand-ins for sbatch, srun and scontrol (no slurm here): it
submits a requeueable batch job that asks for SIGUSR1 before its time limit, every start
runs train.py with --resume, and a run that a signal stopped (it wrote the work dir's
``preempted`` marker after its checkpoint) requeues the job, whatever status srun reports."""
import os
import os.path as osp

import pytest

from helpers import run_command

FAKES = {
    # sbatch: record the options, then run the script as the job (the first non-option)
    'sbatch': 'echo "$@" >> "$LOG/sbatch"\n'
              'while [[ "$1" == --* ]]; do shift; done\n'
              'SLURM_JOB_ID=42 exec bash "$@"\n',
    # srun: record the command; the next line of $LOG/statuses is the status to exit with
    # and, if a second word is there, the checkpoint the run names in its preempted marker
    'srun': 'echo "$@" >> "$LOG/srun"\n'
            'read -r status ckpt < "$LOG/statuses"; sed -i 1d "$LOG/statuses"\n'
            '[[ -n "$ckpt" ]] && echo "$ckpt" > "$LOG/work/preempted"\n'
            'exit "$status"\n',
    'scontrol': 'echo "$@" >> "$LOG/scontrol"\n',
}


@pytest.fixture
def slurm(tmp_path, repo_root):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for name, body in FAKES.items():
        (bin_dir / name).write_text('#!/usr/bin/env bash\n' + body)
        (bin_dir / name).chmod(0o755)

    def submit(status, **env):
        (tmp_path / 'statuses').write_text(f'{status}\n')
        if (tmp_path / 'scontrol').exists():
            (tmp_path / 'scontrol').unlink()
        proc = run_command(
            ['bash', osp.join(repo_root, 'tools', 'slurm_train.sh'), 'gpu', 'litv2',
             'configs/mask_rcnn/litv2_s_1x.py', tmp_path / 'work', '--amp'],
            env=dict(PATH=f'{bin_dir}:{os.environ["PATH"]}', LOG=str(tmp_path),
                     SLURM_JOB_ID=None, **env), timeout=60, check=False)
        logs = {name: (tmp_path / name).read_text() if (tmp_path / name).exists() else ''
                for name in FAKES}
        return proc, logs

    return submit


@pytest.mark.parametrize('srun_status', [75, 143, 137])
def test_a_stopped_run_requeues_its_job(slurm, tmp_path, srun_status):
    """srun reports 75, or the status of a task it ended (--kill-on-bad-exit) after the first
    task exited 75: the marker the run wrote decides."""
    (tmp_path / 'work').mkdir()
    (tmp_path / 'work' / 'preempted').write_text('stale, from the start before')
    proc, logs = slurm(f'{srun_status} {tmp_path}/work/iter_8.pth')
    assert proc.returncode == 75, proc.stdout
    sbatch = logs['sbatch'].split()
    assert '--requeue' in sbatch and '--signal=USR1@300' in sbatch
    assert f'--output={tmp_path}/work/slurm-%j.out' in sbatch and '--partition=gpu' in sbatch
    srun = logs['srun'].split()
    assert srun[srun.index('--work-dir=' + str(tmp_path / 'work')) - 1].endswith(
        'configs/mask_rcnn/litv2_s_1x.py')
    assert srun[-4:] == ['--launcher', 'slurm', '--resume', '--amp']
    assert logs['scontrol'].split() == ['requeue', '42']
    assert f'iter_8.pth; srun status {srun_status}): requeueing job 42' in proc.stdout


def test_a_finished_or_failed_run_is_not_requeued(slurm, tmp_path):
    """A marker left by an earlier start does not requeue a run that ended otherwise."""
    (tmp_path / 'work').mkdir()
    for status in (0, 1, 143, 75):
        (tmp_path / 'work' / 'preempted').write_text('stale, from the start before')
        proc, logs = slurm(status, SIGNAL_TIME='120')
        assert proc.returncode == status
        assert logs['scontrol'] == ''
        assert '--signal=USR1@120' in logs['sbatch']
