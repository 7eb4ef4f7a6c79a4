"""The student process: how the judge starts it, limits it, and hears what it prints.

``scratch.grading.remote`` talks to it; ``scratch.grading.student`` is what runs inside. The
process runs as another, unprivileged user where the grader can (``--run-as``), with the
limits of :func:`student_limits`, in a home folder of its own, with an environment that
holds nothing of the judge's, and with two pipes as its only descriptors besides its output.
"""

import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import wire

STUDENT_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from scratch.grading.student import main; main()"
ADDRESS_SPACE_BYTES = 8 << 30
# glibc's malloc gives the top of its heap back to the system as soon as it is free, and
# takes it again (brk, then a page fault per page) at the next request: a training step
# frees and allocates the same arrays every time. Kept, the student process computed a GPT
# step in 8.6-9.2 ms instead of 12.2-12.4 (py-spy showed brk among its top frames).
MALLOC_SETTINGS = {"MALLOC_TRIM_THRESHOLD_": str(256 << 20), "MALLOC_TOP_PAD_": str(64 << 20),
                   "MALLOC_MMAP_THRESHOLD_": str(256 << 20)}
OPEN_FILES = 64
OUTPUT_KEPT = 64 << 10
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWNET = 0x40000000


def student_limits(cpu_seconds, user):
    """What the student process is put in before it runs (``preexec_fn``): as another user
    (``user`` = (uid, gid), or None to stay who we are), first a network namespace of its own,
    taken while still root (no interface but a loopback that is down: nothing to connect to,
    so code that records a hidden test's inputs cannot send them out; where the kernel refuses
    the namespace, as an unprivileged container may, the process keeps the network), then that
    user's identity; then the resource limits."""

    def apply():
        import ctypes
        import resource  # POSIX only, like the rest of the student process's start

        libc = ctypes.CDLL(None, use_errno=True)
        if user is not None:
            try:
                libc.unshare(CLONE_NEWNET)  # 0, or -1 with EPERM where it is not allowed
            except (OSError, AttributeError):
                pass
            os.setgroups([])
            os.setgid(user[1])
            os.setuid(user[0])
        try:  # after the identity change, which clears the parent-death signal (commit_creds)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)  # no setuid binary gives privileges back
        except (OSError, AttributeError):
            pass
        limits = [
            (resource.RLIMIT_AS, ADDRESS_SPACE_BYTES),
            (resource.RLIMIT_CPU, int(cpu_seconds)),
            (resource.RLIMIT_FSIZE, 0),  # no file can be written
            (resource.RLIMIT_CORE, 0),
            (resource.RLIMIT_NOFILE, OPEN_FILES),
        ]
        if user is not None:  # one process for that user: no fork, no thread (root ignores this limit)
            limits.append((resource.RLIMIT_NPROC, 1))
        for which, value in limits:
            try:
                resource.setrlimit(which, (value, value))
            except (ValueError, OSError):
                pass

    return apply


def kill_every_process_of(run_as, seconds=10.0):
    """Kill every process of the user ``run_as``, which must be a user dedicated to grading.

    The judge's group kill and the parent-death signal do not reach a student process that
    left the judge's process group (``setsid``) and cleared its parent-death signal (``prctl``),
    which submitted code can do: such a process outlived its run, read the next submission's
    tree and killed its processes. So the grader, before the first judge and after each one
    stops, kills from root every live process whose real, effective or saved uid is that
    user's, until none is left (RLIMIT_NPROC keeps the set from growing). From root, not from
    a helper running as that user: a surviving process can signal such a helper first (a red
    team's did, every time). Each kill goes through a pidfd opened before the process is
    checked, so a pid reused in between is never hit. Two grading runs must therefore never
    share a ``--run-as`` user. RuntimeError if the processes do not die within ``seconds``."""
    user = student_user(run_as)
    if user is None:
        return
    deadline = time.monotonic() + seconds
    while True:
        alive = [pid for pid in (int(name) for name in os.listdir("/proc") if name.isdigit()) if kill_if_owned(pid, user[0])]
        if not alive:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"--run-as {run_as}: processes {alive[:10]} of that user would not die")
        time.sleep(0.005)


def kill_if_owned(pid, uid):
    """SIGKILL process ``pid`` if it is alive and one of its uids is ``uid``; whether it was."""
    try:
        handle = os.pidfd_open(pid)
    except (OSError, AttributeError):  # gone, or no pidfds (Linux < 5.3): the plain pid
        handle = None
    try:
        with open(f"/proc/{pid}/status") as status:
            fields = dict(line.split(":", 1) for line in status if ":" in line)
        if fields.get("State", "").strip()[:1] in ("Z", "X") or str(uid) not in fields.get("Uid", "").split()[:3]:
            return False
        if handle is not None:
            signal.pidfd_send_signal(handle, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
        return True
    except (OSError, ValueError):
        return False
    finally:
        if handle is not None:
            os.close(handle)


def student_user(run_as):
    """``(uid, gid)`` of the unprivileged user ``run_as``, or None to stay who we are."""
    if run_as is None:
        return None
    import pwd

    entry = pwd.getpwnam(run_as)
    return entry.pw_uid, entry.pw_gid


class StudentProcess:
    """The process that imports the submitted package and answers the judge's requests."""

    def __init__(self, root, package, given, run_as=None, cpu_seconds=3600):
        self.root, self.package, self.given = Path(root), package, tuple(given)
        user = student_user(run_as)
        to_student, self.out_fd = os.pipe()
        self.in_fd, from_student = os.pipe()
        for fd in (to_student, from_student):
            wire.widen_pipe(fd)
        output_read, output_write = os.pipe()
        self.home = tempfile.mkdtemp(prefix="scratch-student-home-")
        if user is not None:
            os.chown(self.home, *user)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.home, "LANG": "C.UTF-8",
               "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "PYTHONDONTWRITEBYTECODE": "1", "SCRATCH_SPIN_SECONDS": repr(wire.SPIN_SECONDS), **MALLOC_SETTINGS}
        command = [sys.executable, "-I", "-c", STUDENT_BOOT, str(self.root), str(to_student), str(from_student),
                   package, ",".join(self.given)]
        try:
            self.process = subprocess.Popen(
                command, cwd=self.home, env=env, stdin=subprocess.DEVNULL, stdout=output_write,
                stderr=output_write, pass_fds=(to_student, from_student),
                preexec_fn=student_limits(cpu_seconds, user),
            )
        finally:
            for fd in (to_student, from_student, output_write):
                os.close(fd)
        self.output = collections.deque(maxlen=OUTPUT_KEPT)
        self.drain = threading.Thread(target=self.read_output, args=(output_read,), daemon=True)
        self.drain.start()

    def read_output(self, fd):
        """Keep the last bytes the student process printed (a full pipe would block it)."""
        with os.fdopen(fd, "rb", buffering=0) as stream:
            while chunk := stream.read(65536):
                self.output.extend(chunk)

    def printed(self):
        return bytes(self.output).decode("utf-8", "replace")

    def close(self):
        for fd in (self.out_fd, self.in_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        shutil.rmtree(self.home, ignore_errors=True)  # left there, the next run's process could read it
