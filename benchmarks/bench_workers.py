"""Long-lived benchmark worker processes and their memory readings (Linux).

A benchmark compares paths (ours / a reference / the authors' code) in one process each for the
whole run: the parent writes one JSON job per line to a worker's stdin and reads one JSON answer
line from its stdout (lines that do not start with ``{`` are skipped), so that jobs of the paths
can alternate and a change of machine load hits every path alike.
"""
import ctypes
import ctypes.util
import json
import os
import statistics
import subprocess
import time


def rss_mb():
    """(current RSS, peak RSS ``VmHWM``) of this process in MB."""
    with open('/proc/self/status') as f:
        fields = dict(line.split(':', 1) for line in f if ':' in line)
    return int(fields['VmRSS'].split()[0]) / 1024, int(fields['VmHWM'].split()[0]) / 1024


def release_free_heap():
    """Hand the C heap's free pages back to the OS (glibc ``malloc_trim``); False elsewhere.

    Called before a memory job so that its RSS baseline is what the process holds, not memory
    kept from the previous job, without fixing glibc's mmap threshold (a fixed threshold made
    every large tensor a fresh ``mmap`` and page-faulted it in: our bf16 seeds 1.46x slower).
    """
    name = ctypes.util.find_library('c')
    try:
        ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError, TypeError):
        return False
    return True


def reset_peak_rss():
    """Reset ``VmHWM`` to the current RSS (Linux >= 4.0); False where not allowed."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


class Worker:
    """One worker process serving JSON jobs.

    Args:
        name (str): The path it runs (used in error messages and results).
        cmd (list[str]): Its command line.
        cwd (str): Its working directory.
        env (dict, optional): Extra environment variables.
    """

    def __init__(self, name, cmd, cwd, env=None):
        self.name = name
        env = dict(os.environ, **(env or {}))
        self.proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.PIPE, env=env,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self.info = self._read()

    def _read(self):
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise SystemExit(f'benchmark: the {self.name} worker exited with code '
                                 f'{self.proc.wait()}')
            if line.startswith('{'):
                return json.loads(line)

    def run(self, job):
        """Send one job (a dict) and return the worker's answer (a dict)."""
        self.proc.stdin.write(json.dumps(job) + '\n')
        return self._read()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def pythonpath(*first):
    """``PYTHONPATH`` with the folders ``first`` (empty ones skipped) before the current one.

    The workers put the benchmarks' own checkout first, so that it is that checkout which gets
    measured, not another copy of ``mmseg_mctformer`` installed in the environment.
    """
    return os.pathsep.join(p for p in (*first, os.environ.get('PYTHONPATH', '')) if p)


def loadavg():
    """The 1 / 5 / 15-minute load averages, rounded."""
    return [round(v, 2) for v in os.getloadavg()]


class JobMeter:
    """Wall-clock and CPU seconds and peak memory of the job run inside ``with``.

    Memory: on CUDA ``torch.cuda.max_memory_allocated`` over what was allocated when the job
    started (the device is synchronised before and after); on a CPU the peak RSS (``VmHWM``, reset
    when the job starts, after the heap's free pages went back to the OS) over the RSS then, or
    over ``base_rss`` where the reset is not allowed.
    After the block, ``result`` holds ``seconds``, ``cpu_seconds`` and ``peak_mem_mb`` (None on
    a CPU without ``memory``).

    Handing the free heap pages back costs the job the page faults of touching them again (8 %
    of a seed image on this sandbox), which a long run in steady state does not pay; so a driver
    times jobs with ``memory=False`` and reads the memory of a separate job.

    Args:
        device (str): ``'cpu'``, ``'cuda'`` or ``'cuda:N'``.
        base_rss (float): The process RSS in MB to measure from where ``VmHWM`` cannot be reset.
        memory (bool): On a CPU, trim the heap and read the peak RSS. Default: True.
    """

    def __init__(self, device, base_rss, memory=True):
        self.device, self.base_rss = device, base_rss
        self.cuda = device.startswith('cuda')
        self.memory = memory or self.cuda
        self.result = None

    def __enter__(self):
        if self.cuda:
            import torch
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        elif self.memory:
            release_free_heap()
            self._base = rss_mb()[0] if reset_peak_rss() else self.base_rss
        self._start, self._cpu_start = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            import torch
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - self._start
        cpu_seconds = time.process_time() - self._cpu_start
        if self.cuda:
            peak = (torch.cuda.max_memory_allocated(self.device) - self._base) / 2**20
        else:
            peak = rss_mb()[1] - self._base if self.memory else None
        self.result = dict(seconds=seconds, cpu_seconds=cpu_seconds, peak_mem_mb=peak)
        return False


# ATen ops that only make a view / alias of a tensor or allocate one: no kernel launch on a GPU
NON_KERNEL_OPS = frozenset((
    'alias', 'as_strided', 'chunk', 'detach', 'diagonal', 'empty', 'empty_like',
    'empty_strided', 'expand', 'expand_as', 'flatten', 'lift_fresh', 'narrow', 'new_empty',
    'new_empty_strided', 'permute', 'reshape', '_reshape_alias', 'select', 'slice', 'split',
    'split_with_sizes', 'squeeze', 't', 'transpose', 'unbind', 'unflatten', 'unsqueeze', 'view',
    'view_as', '_unsafe_view'))


class OpCounter:
    """Counts the ATen operators dispatched inside ``with`` (a ``TorchDispatchMode``).

    What a step costs the host on a GPU grows with the number of operators it dispatches
    (each one a Python -> C++ -> kernel launch round trip), whatever the device the count is
    taken on. ``exclude(fn)`` wraps a function whose operators are not counted (used for the
    optimizer step, whose kernel count depends on the device: single-tensor on a CPU, foreach
    on CUDA). After the block: ``ops`` (all), ``kernel_ops`` (without :data:`NON_KERNEL_OPS`) and
    ``top`` (the 12 most frequent of the latter).
    """

    def __enter__(self):
        from collections import Counter

        from torch.utils._python_dispatch import TorchDispatchMode

        counts = self.counts = Counter()

        class _Mode(TorchDispatchMode):

            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                counts[func.overloadpacket.__name__] += 1
                return func(*args, **(kwargs or {}))

        self._mode = _Mode()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc):
        self._mode.__exit__(*exc)
        kernels = {k: v for k, v in self.counts.items() if k not in NON_KERNEL_OPS}
        self.ops, self.kernel_ops = sum(self.counts.values()), sum(kernels.values())
        self.top = dict(sorted(kernels.items(), key=lambda kv: -kv[1])[:12])
        return False

    @staticmethod
    def exclude(fn):
        """``fn`` run with the counting mode switched off."""
        import functools

        from torch.utils._python_dispatch import _disable_current_modes

        @functools.wraps(fn)
        def uncounted(*args, **kwargs):
            with _disable_current_modes():
                return fn(*args, **kwargs)
        return uncounted


# what the peak memory of a job measures, for the benchmarks' JSON
MEMORY_NOTE = ('read in one more untimed job per side / path; CUDA: max_memory_allocated minus '
               'allocated when that job started; CPU: peak RSS (VmHWM reset after malloc_trim) '
               'minus RSS when that job started')


def median_job(results):
    """Medians of the timed ``JobMeter.result`` dicts: (seconds, cpu_seconds). Their memory is
    not read (``memory=False``): the drivers take it from a separate job."""
    return tuple(statistics.median(r[key] for r in results) for key in ('seconds', 'cpu_seconds'))
