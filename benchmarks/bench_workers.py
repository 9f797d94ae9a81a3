"""Long-lived benchmark worker processes and their memory readings (Linux).

A benchmark compares paths (ours / a reference / the authors' code) in one process each for the
whole run: the parent writes one JSON job per line to a worker's stdin and reads one JSON answer
line from its stdout (lines that do not start with ``{`` are skipped), so that jobs of the paths
can alternate and a change of machine load hits every path alike.
"""
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
        env (dict, optional): Extra environment variables. A fixed glibc mmap threshold is always
            set, so that freed tensors go back to the OS and the RSS before a job is not inflated
            by memory kept from the previous one.
    """

    def __init__(self, name, cmd, cwd, env=None):
        self.name = name
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='131072', **(env or {}))
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


def loadavg():
    """The 1 / 5 / 15-minute load averages, rounded."""
    return [round(v, 2) for v in os.getloadavg()]


class JobMeter:
    """Wall-clock and CPU seconds and peak memory of the job run inside ``with``.

    Memory: on CUDA ``torch.cuda.max_memory_allocated`` over what was allocated when the job
    started (the device is synchronised before and after); on a CPU the peak RSS (``VmHWM``, reset
    when the job starts) over the RSS then, or over ``base_rss`` where the reset is not allowed.
    After the block, ``result`` holds ``seconds``, ``cpu_seconds`` and ``peak_mem_mb``.

    Args:
        device (str): ``'cpu'``, ``'cuda'`` or ``'cuda:N'``.
        base_rss (float): The process RSS in MB to measure from where ``VmHWM`` cannot be reset.
    """

    def __init__(self, device, base_rss):
        self.device, self.base_rss = device, base_rss
        self.cuda = device.startswith('cuda')
        self.result = None

    def __enter__(self):
        if self.cuda:
            import torch
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        else:
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
            peak = rss_mb()[1] - self._base
        self.result = dict(seconds=seconds, cpu_seconds=cpu_seconds, peak_mem_mb=peak)
        return False


# what the peak memory of a job measures, for the benchmarks' JSON
MEMORY_NOTE = ('CUDA: max_memory_allocated minus allocated when the job started; CPU: peak RSS '
               '(VmHWM reset per job) minus RSS when the job started')


def median_job(results):
    """Medians of ``JobMeter.result`` dicts: (seconds, cpu_seconds, peak_mem_mb)."""
    return tuple(statistics.median(r[key] for r in results)
                 for key in ('seconds', 'cpu_seconds', 'peak_mem_mb'))
