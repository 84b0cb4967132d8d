"""No orphans: the processes of a task cluster, and the children of ``serve``, die with
their parent.

django-q2's ``qcluster`` is a tree: the main process, its sentinel (which holds the
cluster's task queue), and the sentinel's workers, task fetcher and monitor. Killed alone,
the main process left the rest running and taking tasks, unsupervised. On Linux a process
can ask the kernel for a signal when its parent dies (``prctl(PR_SET_PDEATHSIG)``):
``children_die_with_parent`` makes every process forked from now on (the sentinel, and, as
the sentinel inherits it, the workers) ask for SIGKILL. A killed worker's run is then failed
by the usual dead-worker checks (a new cluster, the site, ``serve``). ``die_with_parent`` does
it for one process (``serve`` runs it in its children before they start).

Elsewhere (no ``prctl``), both do nothing; a supervisor that stops the whole process group
is then the only guard (see the README).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
_parent: int | None = None  # the forking process, remembered just before a fork


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies; False where
    that is not available (not Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0


def _remember_parent() -> None:
    global _parent
    _parent = os.getpid()


def _child_after_fork() -> None:
    if die_with_parent() and os.getppid() != _parent:
        os._exit(1)  # the parent died before the request was made: nobody supervises us


def children_die_with_parent() -> None:
    """From now on, every process this one forks (and those forks' forks) is killed when the
    process that forked it dies."""
    os.register_at_fork(before=_remember_parent, after_in_child=_child_after_fork)


def is_cluster_command(argv: list[str]) -> bool:
    """Whether this process is ``manage.py qcluster`` (or ``django-admin qcluster``)."""
    return argv[1:2] == ["qcluster"]
