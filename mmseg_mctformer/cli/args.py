"""Argument parsing shared by the ``tools/`` scripts (MMSeg's flags, same names)."""
import os

from mmengine.config import DictAction


def add_common_args(parser):
    """Add ``--work-dir``, ``--cfg-options``, ``--launcher`` and ``--local-rank`` to ``parser``."""
    parser.add_argument('--work-dir', help='the directory for logs and checkpoints')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, xxx=yyy (lists as key="[a,b]"), merged into the config')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or --local_rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser


def parse_with_local_rank(parser, argv=None):
    """Parse ``argv`` and export ``LOCAL_RANK`` as mmengine expects."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args
