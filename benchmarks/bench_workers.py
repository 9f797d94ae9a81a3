"""Long-lived benchmark worker processes and their memory readings (Linux).

A benchmark compares paths (ours / a reference / the authors' code) in one process each for the
whole run: the parent writes one JSON job per line to a worker's stdin and reads one JSON answer
line from its stdout (lines that do not start with ``{`` are skipped), so that jobs of the paths
can alternate and a change of machine load hits every path alike.
"""
import json
import os
import subprocess


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
