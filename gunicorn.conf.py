"""gunicorn settings for production (used by the Dockerfile and the README).

Worker class and count come from the environment. The allocator settings keep argon2's
memory from page-faulting on every hash (see the README's Performance section).
"""

from __future__ import annotations

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count()))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "0"))
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
preload_app = False


def _tune_allocator() -> None:
    """Keep argon2's memory on the heap instead of mmap/munmap per hash.

    glibc reads MALLOC_MMAP_MAX_ / MALLOC_TRIM_THRESHOLD_ only when the process starts, so
    setting them here (or with ``raw_env``) would be too late for this process; ``mallopt``
    applies them now, and forked workers inherit them. The Dockerfile also sets the variables.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "mallopt"):
        return  # not glibc
    m_trim_threshold, m_mmap_max = -1, -4
    libc.mallopt(m_mmap_max, int(os.environ.get("MALLOC_MMAP_MAX_", "0")))
    libc.mallopt(m_trim_threshold, int(os.environ.get("MALLOC_TRIM_THRESHOLD_", "1073741824")))


_tune_allocator()
