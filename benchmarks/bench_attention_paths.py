"""One attention layer: ``F.scaled_dot_product_attention`` ("fused") against an explicit softmax.

Times forward + backward of the attention core of a ViT-S layer (6 heads of 64 dims) for several
batch sizes B and token counts N, in float32 and under ``torch.autocast('cpu', torch.bfloat16)``
(what ``--amp`` runs on a CPU), and reports the fused / explicit time ratio of each. The explicit
path is the one :class:`~mmseg_mctformer.models.backbones.mct_vit.MultiClassTokenAttention` takes
in bfloat16 on a CPU up to ``CPU_BF16_EXPLICIT_MAX_TOKENS`` tokens (softmax in float32), chosen
from these numbers. Medians of ``--repeats`` timed calls after two warm-ups. Prints one JSON
object (``--out`` also writes it).

Example::

    python benchmarks/bench_attention_paths.py --threads 2
"""
import argparse

import torch
import torch.nn.functional as F
from bench_demo_stages import _median_seconds  # benchmarks/ (the script's folder)
from json_output import emit_json

from mmseg_mctformer.models.backbones.mct_vit import (
    CPU_BF16_EXPLICIT_MAX_TOKENS,
    explicit_attention,
)

# (B, N): the demo's stage-1 batch (32 x (6 + 64) tokens at 112 px), VOC at 224 and 448 px
CASES = ((32, 70), (16, 140), (16, 216), (8, 256), (8, 400), (4, 804))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Fused vs explicit attention, CPU')
    parser.add_argument('--threads', type=int, default=2, help='torch threads')
    parser.add_argument('--repeats', type=int, default=10, help='timed calls per measurement')
    parser.add_argument('--out', help='also write the JSON here')
    return parser.parse_args(argv)


def _time_ms(path, shape, bf16, repeats):
    """Median ms of forward + backward of one attention (B, H, N, D / H) ``shape``."""
    q, k, v = (torch.randn(*shape, requires_grad=True) for _ in range(3))
    scale = shape[-1]**-0.5

    def run():
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            qkv = [t.to(torch.bfloat16) if bf16 else t for t in (q, k, v)]
            out = (F.scaled_dot_product_attention(*qkv) if path == 'fused'
                   else explicit_attention(*qkv, scale))
        out.float().sum().backward()

    run()  # a first warm-up; _median_seconds runs the second
    return round(1000 * _median_seconds(run, repeats), 2)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for batch, tokens in CASES:
        row = dict(batch=batch, tokens=tokens)
        for precision, bf16 in (('fp32', False), ('bf16', True)):
            fused = _time_ms('fused', (batch, 6, tokens, 64), bf16, args.repeats)
            explicit = _time_ms('explicit', (batch, 6, tokens, 64), bf16, args.repeats)
            row[precision] = dict(fused_ms=fused, explicit_ms=explicit,
                                  fused_over_explicit=round(fused / explicit, 2))
        rows.append(row)
    emit_json(dict(cases=rows, explicit_max_tokens_cpu_bf16=CPU_BF16_EXPLICIT_MAX_TOKENS,
                   threads=args.threads, repeats=args.repeats, torch=torch.__version__),
              args.out)


if __name__ == '__main__':
    main()
