"""Where ``fit_many``'s groups run: serially, on local processes (this one beside worker
processes, forked or loky's: ``_pool``), or on a ``dask.distributed`` client; in chunks of
groups, each chunk's tables yielded as it finishes. A chunk's arithmetic is the same wherever it runs (one BLAS thread,
seeds by group key), so the results do not depend on the route or the chunking.
"""

from __future__ import annotations

import math
import sys
import threading

from csi_models.batch.fast import fit_chunk
from csi_models.batch.worker import fit_group, frames


def _chunks(tasks: list, workers: int) -> list[list]:
    """Tasks in chunks, in order, of shrinking size: each a quarter of every worker's share
    of what remains, at most 16 groups and at least 4 where every worker gets 4 chunks of 4,
    else fewer down to 1 (200 groups on 2 workers: 16 x 5, 15, 14, 12, 10, 9, 8, 7, 6, 5, 5,
    4 x 7, 1; 4 groups on 4 workers: 1 each). Big chunks first keep the per-chunk cost low
    (~0.05 s a chunk), small ones last keep no worker waiting long for another's last one,
    and a small batch of slow groups (CB-SEM bootstraps) still spreads over every worker;
    results do not depend on the chunking."""
    floor = max(1, min(4, len(tasks) // (4 * workers)))
    out, start = [], 0
    while start < len(tasks):
        size = min(16, max(floor, math.ceil((len(tasks) - start) / (4 * workers))))
        out.append(tasks[start:start + size])
        start += size
    return out


def _work(chunk, by, fast):
    """One chunk of tasks -> [(task position, keys, keyed tables)]: the fast PLS path for
    the whole chunk, else each group through ``worker.fit_group``."""
    positions, tasks = zip(*chunk)
    if fast:
        return [(positions[0], [t[0] for t in tasks], fit_chunk(list(tasks), by))]
    return [(pos, [task[0]], frames(fit_group(*task), by)) for pos, task in chunk]


MMAP_THRESHOLD = 2 ** 25
TRIM_THRESHOLD = 2 ** 27


def fixed_mmap_threshold() -> bool:
    """Run in each worker: glibc's mmap threshold fixed at 32 MB and its trim threshold at
    128 MB, so numpy's temporaries reuse heap memory instead of being mapped, zeroed and
    returned to the system again and again. Dask's nanny sets MALLOC_TRIM_THRESHOLD_,
    which switches off glibc's adaptive thresholds (every temporary over 128 kB is
    mmap'ed): 60 companies x 1000 PLS resamples took 6.6 s on a 2-worker LocalCluster,
    3.9 s with the mmap threshold fixed (2.9 s on local processes). A fresh local worker
    starts with the adaptive thresholds low, which cost its first chunks ~10%. False where
    the C library is not glibc (nothing changed)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(-3, MMAP_THRESHOLD)       # -3: M_MMAP_THRESHOLD
                    and libc.mallopt(-1, TRIM_THRESHOLD))  # -1: M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        return False


def run_tasks(tasks, by, fast, n_jobs, client):
    """(position, keys, tables) as chunks finish: serial, local processes, or Dask futures."""
    tasks = list(enumerate(tasks))
    if client is not None:
        from distributed import as_completed

        client.run(fixed_mmap_threshold)
        workers = max(1, sum(client.nthreads().values()))
        futures = [client.submit(_work, chunk, by, fast, pure=False)
                   for chunk in _chunks(tasks, workers)]
        for future in as_completed(futures):
            yield from future.result()
            future.release()
        return
    from joblib import effective_n_jobs

    workers = max(1, effective_n_jobs(n_jobs))
    chunks = _chunks(tasks, workers)
    if workers == 1 or len(chunks) <= 1:      # nothing left to fit (resume): no pool
        for chunk in chunks:
            yield from _work(chunk, by, fast)
        return
    yield from _shared(chunks, by, fast, workers)


def _start_worker(forked: bool = False) -> None:
    """Worker initializer: Ctrl-C reaches every process of a terminal's group; the workers
    leave it to this process, which stops them. And glibc's thresholds as on Dask; a forked
    worker ends with this process."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fixed_mmap_threshold()
    if forked:
        _end_with_parent()


def _end_with_parent() -> None:
    """A forked worker ends when this process does, however it ends (kill -9, the OOM
    killer): it holds its own task pipe's writing end, so it would wait for work forever
    (loky's workers end after 300 idle seconds). Linux's parent-death signal; nothing
    elsewhere (workers are forked on Linux only)."""
    import multiprocessing
    import os

    parent = multiprocessing.parent_process()
    if not sys.platform.startswith("linux") or parent is None:
        return
    import ctypes
    import ctypes.util
    import signal

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))          # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent.pid:                  # the parent died before prctl
        os._exit(1)


def _shared(chunks, by, fast, workers: int):
    """Chunks shared by ``workers`` processes, this one included: this
    process and one thread per worker process (``_pool``; the thread sends a
    chunk and waits for it) take the next chunk from one queue. This process starts at once,
    so the seconds a cold pool of spawned workers spends starting (imports, ~1.3 s on a
    2-core machine) are not idle. Results are identical: a chunk's arithmetic is the same
    anywhere."""
    import queue
    from collections import deque

    todo, done, stop = deque(chunks), queue.SimpleQueue(), threading.Event()
    executor = None             # set first thing in the try below (Ctrl-C while forking)
    helpers = min(workers, len(chunks)) - 1     # a thread (and a busy process) per chunk at most

    def take():     # deque.popleft is atomic: safe from every thread
        try:
            return todo.popleft()
        except IndexError:
            return None

    def helper():
        try:
            while not stop.is_set() and (chunk := take()):
                done.put(executor.submit(_work, chunk, by, fast).result())
        except BaseException as exc:    # noqa: BLE001 - raised again in this process
            done.put(exc)
        done.put(None)

    running = helpers
    try:
        executor = _pool(workers - 1)
        for _ in range(helpers):
            threading.Thread(target=helper, daemon=True).start()
        while chunk := take():
            yield from _work(chunk, by, fast)
            while not done.empty():
                item = done.get()
                running -= item is None
                yield from _unpack(item)
        while running:
            item = done.get()
            running -= item is None
            yield from _unpack(item)
    except BaseException:
        # an error, Ctrl-C, or the caller stopping early (GeneratorExit, e.g. Ctrl-C while
        # a finished group is written): no further chunk goes out, and the chunks still
        # running are stopped at once with their processes (the next batch starts new ones)
        stop.set()
        if executor is not None:
            stop_pool(executor)
        raise


_POOL: dict = {}
_POOL_LOCK = threading.Lock()


def _pool(workers: int):
    """This thread's own pool of ``workers`` processes, kept for its next batch (a warm
    pool); a pool of another size this thread kept is shut down first. Per thread: a batch
    stopped by an error or Ctrl-C kills its pool's processes, and a batch running at the
    same time in another thread must not lose its workers with them. Not loky's reusable
    executor: joblib shares that singleton with its own settings (memmapping, temporary
    folders), and a CB-SEM bootstrap after a batch would find an executor joblib did not
    make."""
    me = threading.get_ident()
    with _POOL_LOCK:
        alive = {t.ident for t in threading.enumerate()}
        executor = _POOL.get((workers, me))
        if _usable(executor):
            return executor
        retired = [_POOL.pop(k) for k in list(_POOL) if k[1] not in alive or k[1] == me]
    for old in retired:         # idle: pools of finished threads, this thread's other sizes
        old.shutdown(wait=True)
    fork = _can_fork()          # asked with those pools' threads gone, before the helpers'
    executor = _new_pool(workers, fork)
    if fork:
        _fork_workers(executor)
    with _POOL_LOCK:
        _POOL[(workers, me)] = executor
    return executor


def _fork_workers(executor) -> None:
    """Fork ``executor``'s workers now, from this thread (the only one; never while holding
    a lock). Ctrl-C is held off until the children exist (an interrupt inside the fork's
    after-fork hooks was lost: the batch then ran to the end). This process never writes to
    the result pipe: it closes its writing end, so the pipe ends when the workers do (a
    worker killed while it sends a result no longer leaves the executor waiting for the rest
    of it once the other workers are gone). CPython 3.12+ warns about forking a process
    with threads, and OpenBLAS's idle threads count; OpenBLAS re-initializes itself in a
    forked child (pthread_atfork), and the chunks run with one BLAS thread."""
    import signal
    import warnings

    hit = []
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, lambda *_: hit.append(1)) if main else None
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", r".*use of fork\(\) may lead to deadlocks",
                                    DeprecationWarning)
            executor.submit(int)
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
    executor._result_queue._writer.close()
    if hit:
        _kill(executor)
        raise KeyboardInterrupt


def _can_fork() -> bool:
    """Whether new workers can be forked from this process: on Linux, with no thread but
    this one (forking a process with other threads can leave a child with a lock another
    thread held). A forked worker has every module this process imported and starts in
    milliseconds; a spawned one imports joblib, pandas and this package first (~1.3 s on a
    2-core machine, where a 200-company batch takes ~9 s)."""
    import multiprocessing

    return (sys.platform.startswith("linux") and threading.active_count() == 1
            and "fork" in multiprocessing.get_all_start_methods())


def _new_pool(workers: int, fork: bool):
    """Forked workers where ``fork`` (``_can_fork``), which end with this process;
    else loky's spawned workers (what Jupyter, Dask clients and threaded callers get), which
    end after 300 idle seconds."""
    if fork:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=workers, initializer=_start_worker,
                                   initargs=(True,),
                                   mp_context=multiprocessing.get_context("fork"))
    from joblib.externals.loky.process_executor import ProcessPoolExecutor as LokyExecutor

    return LokyExecutor(max_workers=workers, timeout=300, initializer=_start_worker)


def _usable(executor) -> bool:
    """A pool that exists and is neither shut down nor broken (a worker died)."""
    if executor is None:
        return False
    flags = getattr(executor, "_flags", None)       # loky's state
    if flags is not None:
        return not flags.shutdown and flags.broken is None
    return not executor._shutdown_thread and not executor._broken


def _kill(executor) -> None:
    """Shut ``executor`` down and kill its processes, the chunks they run with them."""
    if hasattr(executor, "_flags"):                 # loky
        executor.shutdown(wait=False, kill_workers=True)
        return
    # a forked pool (``_fork_workers`` closed this process's end of its result pipe, so a
    # worker killed while it sends a result does not leave the executor's thread waiting)
    processes = list((executor._processes or {}).values())
    manager = executor._executor_manager_thread     # shutdown() forgets it
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.kill()
    for process in processes:
        process.join()
    if manager is not None:
        # the executor's thread, seeing its workers dead, closes its wake-up pipe; joined
        # here so that it is done before this process exits, where concurrent.futures
        # writes to that pipe (racing with the close: "Bad file descriptor" at exit)
        manager.join(timeout=10)


def stop_pool(executor=None) -> None:
    """Kill the processes of ``executor`` (default: every pool of this module) and forget
    it: what Ctrl-C in ``csi batch`` calls, so no worker outlives the command."""
    with _POOL_LOCK:
        stopping = [executor] if executor is not None else list(_POOL.values())
        for key, pool in list(_POOL.items()):
            if pool in stopping:
                del _POOL[key]
    for pool in stopping:
        _kill(pool)


def _unpack(item):
    if isinstance(item, BaseException):
        raise item
    return item or ()
