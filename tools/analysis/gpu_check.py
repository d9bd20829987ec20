"""The GPU acceptance kit's checks (issue 31): ``tools/gpu_check.sh`` runs this after installing
what it carries; see litv2_mm/analysis/gpu_check.py for what is checked and measured.

    python tools/analysis/gpu_check.py [--device cuda|cpu] [--out DIR] [--sections ...]
    python tools/analysis/gpu_check.py --detector-summary WORK_DIR --test-log FILE [--out DIR]

Writes DIR/report.json and DIR/report.md (default work_dirs/gpu_check/) after every step and
prints one progress line per step. ``--device cuda`` (default): the paper's sizes, about
5 minutes on one H100; ``--device cpu``: tiny sizes, a smoke run of the same code, what needs
CUDA reported as 'skipped: needs CUDA'. Exit status 1 when a check failed, else 0.
``--detector-summary`` checks a finished ``tools/gpu_check.sh --detector`` run instead and
writes DIR/detector_report.json and .md.
"""
import argparse
import dataclasses
import os.path as osp
import sys

from litv2_mm.analysis.gpu_check import PROFILES, SECTIONS, detector_summary, run_checks


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='GPU acceptance kit: accuracy, training and throughput checks',
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('--device', choices=sorted(PROFILES), default='cuda',
                        help='profile: cuda (paper sizes) or cpu (tiny smoke run)')
    parser.add_argument('--out', default=osp.join('work_dirs', 'gpu_check'),
                        help='folder for report.json and report.md')
    parser.add_argument('--sections', nargs='+', choices=list(SECTIONS), default=list(SECTIONS),
                        help='which sections to run (default all, in this order)')
    parser.add_argument('--budget-s', type=float,
                        help='wall seconds of the whole run: compiled rows start only while one '
                             'fits (default: cuda 270, cpu none)')
    parser.add_argument('--detector-summary', metavar='WORK_DIR',
                        help='instead: check the work dir of a --detector run')
    parser.add_argument('--test-log', help='with --detector-summary: the output of its '
                                           'tools/test.py --amp')
    args = parser.parse_args(argv)
    if args.budget_s is not None and args.budget_s <= 0:
        parser.error(f'--budget-s must be > 0, got {args.budget_s}')
    if args.detector_summary and not osp.isdir(args.detector_summary):
        parser.error(f'--detector-summary: no folder {args.detector_summary}')
    if args.test_log and not osp.isfile(args.test_log):
        parser.error(f'--test-log: no file {args.test_log}')
    if len(set(args.sections)) != len(args.sections):
        parser.error(f'--sections: each section once, got {" ".join(args.sections)}')
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.detector_summary:
        log = open(args.test_log).read() if args.test_log else ''
        checks = detector_summary(args.detector_summary, args.out, log)
        for c in checks:
            print(f'[gpu_check] detector: {c["name"]}: {c["status"]} ({c["details"]})')
        return int(any(c['status'] == 'failed' for c in checks))
    profile = PROFILES[args.device]
    if args.budget_s is not None:
        profile = dataclasses.replace(profile, budget_s=args.budget_s)
    order = [s for s in SECTIONS if s in args.sections]
    report = run_checks(profile, args.out, order, argv=sys.argv)
    return int(bool(report.failed()))


if __name__ == '__main__':
    sys.exit(main())
