"""fit_many: failure isolation, seeds by group key (any n_jobs, Dask), Parquet output, resume."""

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import csi_models as csi
from csi_models.batch import fit_many, read_batch
from csi_models.batch.groups import group_seed
from csi_models.batch.parallel import fixed_mmap_threshold
from csi_models.errors import CSIWarning, DataError
from csi_models.simulation import simulate

ROOT = Path(__file__).parent.parent


def survey(groups=3, n=80, seed=1):
    data = simulate("acsi", n, groups=groups, random_state=seed, discrete=True)
    return data.rename(columns={"group": "company"}).assign(industry=lambda d: np.where(
        d.company.isin(["G01", "G02"]), "Retail", "Banks"))


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CSIWarning)
        yield


def test_a_broken_group_is_a_status_row_and_the_others_finish():
    data = survey(groups=4)
    data.loc[data.company == "G02", "CUSA1"] = 5                 # a constant item
    data = data[~((data.company == "G03") & (data.index % 80 >= 20))]  # 20 rows: too small
    batch = fit_many("acsi", data, by="company", random_state=1)
    status = batch.status.set_index("company")
    assert list(status.status) == ["ok", "failed", "too small", "ok"]
    assert "CUSA1" in status.loc["G02", "message"] and "constant" in status.loc["G02", "message"]
    assert "min_n=30" in status.loc["G03", "message"] and status.loc["G03", "n"] == 20
    assert set(batch.indices.company) == {"G01", "G04"}
    assert list(batch.indices.columns[:3]) == ["company", "construct", "estimate"]
    with pytest.raises(csi.errors.CSIError, match="constant"):
        batch["G02"]
    # the fit of one group equals a single fit of its rows
    single = csi.fit("acsi", data[data.company == "G04"])
    np.testing.assert_allclose(batch.paths.query("company == 'G04'").estimate, single.paths.estimate,
                               rtol=0, atol=1e-12)


def test_warnings_are_collected_per_group():
    data = survey(groups=2)
    data.loc[(data.company == "G02") & (data.index % 2 == 0), "CUEX1"] = np.nan  # DataWarnings
    batch = fit_many("acsi", data, by=["industry", "company"], random_state=1)
    assert len(batch.warnings) and set(batch.warnings.company) == {"G02"}
    assert batch.warnings.warning.str.contains("listwise").any()
    assert list(batch.warnings.columns) == ["industry", "company", "warning"]
    assert batch.status.set_index("company").loc["G02", "n_warnings"] == len(batch.warnings)


def test_seed_comes_from_the_group_key_not_its_position():
    assert group_seed(1, ("Retail", "C07")) == group_seed(1, ("Retail", "C07"))
    assert group_seed(1, ("Retail", "C07")) != group_seed(2, ("Retail", "C07"))
    assert group_seed(1, ("Retail", "C07")) != group_seed(1, ("Retail", "C08"))
    data = survey(groups=3)
    whole = fit_many("acsi", data, by="company", bootstrap=50, random_state=3)
    alone = fit_many("acsi", data[data.company == "G03"], by="company", bootstrap=50, random_state=3)
    pd.testing.assert_frame_equal(whole.indices.query("company == 'G03'").reset_index(drop=True),
                                  alone.indices)
    # batch[key] refits the group with its seed: the batch's numbers exactly
    again = whole["G03"].indices
    np.testing.assert_array_equal(again["se"], alone.indices["se"])


def test_same_numbers_with_processes_and_on_a_dask_cluster():
    distributed = pytest.importorskip("distributed")
    data = survey(groups=9, n=60)       # chunks of 4, 4 and 1: work for every process
    serial = fit_many("acsi", data, by="company", bootstrap=40, random_state=5, n_jobs=1)
    parallel = fit_many("acsi", data, by="company", bootstrap=40, random_state=5, n_jobs=2)
    # distributed's nanny writes its worker settings (OMP_NUM_THREADS=1, MALLOC_TRIM_THRESHOLD_,
    # PYTHONHASHSEED, ...) into this process's os.environ and leaves them there, for every
    # later test and subprocess: the environment is put back as it was
    environ = dict(os.environ)
    try:
        # worker processes, as Dask's default: warnings are captured per process
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            dask = fit_many("acsi", data, by="company", bootstrap=40, random_state=5,
                            client=client)
            if sys.platform.startswith("linux"):     # glibc: the mmap threshold is fixed
                assert all(client.run(fixed_mmap_threshold).values())
    finally:
        os.environ.clear()
        os.environ.update(environ)
    for other in (parallel, dask):
        for name in ("indices", "paths", "r2", "impacts", "draws"):
            pd.testing.assert_frame_equal(getattr(serial, name), getattr(other, name),
                                          check_exact=True)
        pd.testing.assert_frame_equal(serial.status.drop(columns="seconds"),
                                      other.status.drop(columns="seconds"))


def test_parquet_output_is_readable_and_equals_the_batch(tmp_path):
    data = survey(groups=2, n=60)
    batch = fit_many("acsi", data, by=["industry", "company"], bootstrap=30, random_state=2,
                     out=tmp_path / "out")
    back = read_batch(tmp_path / "out")
    for name in ("indices", "paths", "status", "draws"):
        pd.testing.assert_frame_equal(getattr(batch, name), getattr(back, name))
    plain = pd.read_parquet(tmp_path / "out" / "indices")      # a Parquet dataset for any reader
    assert len(plain) == len(batch.indices)
    with pytest.raises(DataError, match="resume=True"):
        fit_many("acsi", data, by=["industry", "company"], out=tmp_path / "out", random_state=2)
    with pytest.raises(DataError, match="other settings"):
        fit_many("acsi", data, by=["industry", "company"], bootstrap=30, random_state=9,
                 out=tmp_path / "out", resume=True)


KILLED_RUN = """
import sys, warnings
warnings.simplefilter("ignore")
import pandas as pd
from csi_models.batch import fit_many
data = pd.read_parquet(sys.argv[1])
fit_many("acsi", data, by="company", bootstrap=300, random_state=4, out=sys.argv[2])
"""


def test_resume_after_a_killed_run_refits_only_the_missing_groups(tmp_path):
    data = survey(groups=6, n=60)
    data.to_parquet(tmp_path / "data.parquet")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(tmp_path / "data.parquet"),
                             str(out)], env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list((out / "status").glob("g-*.parquet"))) >= 2:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = len(list((out / "status").glob("g-*.parquet")))
    assert 2 <= finished
    resumed = fit_many("acsi", data, by="company", bootstrap=300, random_state=4, out=out,
                       resume=True)
    assert resumed.settings["n_fitted_now"] == 6 - finished
    fresh = fit_many("acsi", data, by="company", bootstrap=300, random_state=4)
    for name in ("indices", "paths", "draws"):
        pd.testing.assert_frame_equal(getattr(resumed, name), getattr(fresh, name))
    assert list(resumed.status.company) == [f"G0{k}" for k in range(1, 7)]


FINISHED_RUN = """
import sys, warnings
warnings.simplefilter("ignore")
import pandas as pd
from csi_models.batch import fit_many
data = pd.read_parquet(sys.argv[1])
first = fit_many("acsi", data, by="company", bootstrap=20, out=sys.argv[2], n_jobs=2)
again = fit_many("acsi", data, by="company", bootstrap=20, out=sys.argv[2], n_jobs=2,
                 resume=True)
print(again.settings["n_fitted_now"], first.settings["seed"] == again.settings["seed"])
"""


def test_resuming_a_finished_run_fits_nothing_and_keeps_its_seed(tmp_path):
    """With every group written there is nothing to fit: with two processes that once waited
    forever for a worker it never started. Without random_state the resumed run takes the
    seed of the run in out= (a fresh random seed never matched its settings)."""
    data = survey(groups=3, n=60)
    data.to_parquet(tmp_path / "data.parquet")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", FINISHED_RUN, str(tmp_path / "data.parquet"),
                           str(tmp_path / "out")], env=env, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "True"]
    with pytest.raises(DataError, match="give out="):
        fit_many("acsi", data, by="company", resume=True)


def test_bad_arguments_are_named():
    data = survey(groups=2)
    with pytest.raises(DataError, match="'firm'"):
        fit_many("acsi", data, by="firm")
    with pytest.raises(DataError, match="by="):
        fit_many("acsi", data, by=[])
    with pytest.raises(DataError, match="min_n"):
        fit_many("acsi", data, by="company", min_n=0)
    with pytest.raises(csi.errors.CSIError, match="bootstrap"):
        fit_many("acsi", data, by="company", bootstrap=-1)


def test_the_callers_data_are_not_modified():
    data = survey(groups=2)
    before = data.copy()
    fit_many("acsi", data, by="company", random_state=1)
    pd.testing.assert_frame_equal(data, before)


def test_chunks_keep_the_task_order_and_shrink_towards_the_end():
    from csi_models.batch.parallel import _chunks

    assert [len(c) for c in _chunks(list(range(200)), 2)] == \
        [16, 16, 16, 16, 16, 15, 14, 12, 10, 9, 8, 7, 6, 5, 5, 4, 4, 4, 4, 4, 4, 4, 1]
    # a small batch of slow groups still spreads over every worker
    assert [len(c) for c in _chunks(list(range(4)), 4)] == [1, 1, 1, 1]
    assert len(_chunks(list(range(16)), 16)) == 16
    for tasks, workers in ((200, 2), (60, 2), (17, 1), (5, 8), (1000, 3), (0, 2)):
        chunks = _chunks(list(range(tasks)), workers)
        assert sum(chunks, []) == list(range(tasks))
        sizes = [len(c) for c in chunks]
        assert all(0 < s <= 16 for s in sizes) and sizes == sorted(sizes, reverse=True)


def test_joblib_works_before_and_after_a_batch_on_processes():
    """fit_many's worker processes are its own pool: a CB-SEM bootstrap on joblib's loky
    executor before and after a batch still works (when the batch used loky's reusable
    executor, joblib later took it for its own and failed: no _temp_folder_manager)."""
    data = survey(groups=9, n=60)
    one = data[data.company == "G01"]
    first = csi.fit("acsi", one, method="cbsem", bootstrap=4, random_state=1, n_jobs=2)
    fit_many("acsi", data, by="company", bootstrap=10, random_state=1, n_jobs=2)
    again = csi.fit("acsi", one, method="cbsem", bootstrap=4, random_state=1, n_jobs=2)
    pd.testing.assert_frame_equal(first.paths, again.paths)


@pytest.fixture(params=["fork", "loky"])
def pool_kind(request, monkeypatch):
    """fit_many's workers forked from this process (a script: no other thread) or spawned
    by loky (Jupyter, threaded callers): each test runs on a new pool of that kind."""
    from csi_models.batch import parallel

    if request.param == "fork" and not sys.platform.startswith("linux"):
        pytest.skip("workers are forked on Linux only")
    monkeypatch.setattr(parallel, "_can_fork", lambda: request.param == "fork")
    parallel.stop_pool()
    yield request.param
    parallel.stop_pool()


def test_workers_are_forked_only_where_this_process_has_no_other_thread():
    """A script (one thread) gets forked workers, which start without importing anything;
    with another thread alive (Jupyter, a Dask client) forking could leave a child with a
    lock that thread held: loky spawns them instead."""
    import threading

    from csi_models.batch import parallel

    script = ("import warnings; warnings.simplefilter('ignore')\n"
              "import csi_models as csi\n"
              "from csi_models.batch import fit_many, parallel\n"
              "data = csi.simulate('acsi', 60, groups=4, random_state=1, discrete=True)\n"
              "fit_many('acsi', data, by='group', bootstrap=20, random_state=1, n_jobs=2)\n"
              "print(*[type(p).__module__ for p in parallel._POOL.values()])\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    expected = "concurrent.futures.process" if sys.platform.startswith("linux") else "loky"
    assert expected in out.stdout.strip()
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert not parallel._can_fork()
    finally:
        release.set()
        other.join()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers fork on Linux only")
def test_a_forked_worker_ends_when_its_parent_is_killed():
    """kill -9 (or the OOM killer) gives the batch process no time to stop its pool: its
    forked worker, waiting for work on a pipe it holds itself, stayed forever."""
    script = ("import warnings; warnings.simplefilter('ignore')\n"
              "import csi_models as csi\n"
              "from csi_models.batch import fit_many\n"
              "data = csi.simulate('acsi', 60, groups=16, random_state=1, discrete=True)\n"
              "fit_many('acsi', data, by='group', bootstrap=20000, random_state=1, n_jobs=2)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)

    def children():
        found = []
        for task in Path(f"/proc/{proc.pid}/task").glob("*"):
            found += (task / "children").read_text().split()
        return [int(pid) for pid in found]
    try:
        deadline = time.monotonic() + 120
        while not children() and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = children()
        assert workers, "the batch started no worker"
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    alive = workers
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()
                 and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]]
    assert not alive


def test_forked_and_spawned_workers_give_the_numbers_of_one_process(pool_kind):
    from concurrent.futures import ProcessPoolExecutor

    from csi_models.batch import parallel

    data = survey(groups=9, n=60)
    serial = fit_many("acsi", data, by="company", bootstrap=40, random_state=5, n_jobs=1)
    two = fit_many("acsi", data, by="company", bootstrap=40, random_state=5, n_jobs=2)
    forked = [isinstance(p, ProcessPoolExecutor) for p in parallel._POOL.values()]
    assert forked == [pool_kind == "fork"]
    for name in ("indices", "paths", "r2", "impacts", "draws"):
        pd.testing.assert_frame_equal(getattr(serial, name), getattr(two, name),
                                      check_exact=True)
    # groups that take the general route (one fit_group each), a failing one among them
    cb = dict(by="company", method="cbsem", random_state=5)
    small = data[data.company.isin(["G01", "G02", "G03"])].copy()
    small.loc[small.company == "G02", "CUSA1"] = 5.0       # a constant item: a failed group
    one, both = fit_many("acsi", small, n_jobs=1, **cb), fit_many("acsi", small, n_jobs=2, **cb)
    pd.testing.assert_frame_equal(one.paths, both.paths, check_exact=True)
    assert list(both.status["status"]) == ["ok", "failed", "ok"]


def test_an_interrupt_while_a_group_is_written_stops_the_workers(tmp_path, monkeypatch, pool_kind):
    """Ctrl-C outside the chunk loop (here: while a finished group is written) still stops
    the chunks running in worker processes at once, with their processes."""
    from csi_models.batch import parallel
    from csi_models.batch.store import Store

    pools = []
    original = parallel._pool
    monkeypatch.setattr(parallel, "_pool", lambda n: pools.append(original(n)) or pools[-1])

    processes = []

    def interrupted(self, tables, key):     # the pool's processes, then Ctrl-C
        processes.extend(pools[0]._processes.values())
        raise KeyboardInterrupt
    monkeypatch.setattr(Store, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fit_many("acsi", survey(groups=12, n=60), by="company", bootstrap=300,
                 random_state=1, n_jobs=2, out=tmp_path / "out")
    assert pools and processes and not [p for p in parallel._POOL.values() if p in pools]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(p.is_alive() for p in processes):
        time.sleep(0.05)
    assert not any(p.is_alive() for p in processes)


def test_a_batch_stopped_in_one_thread_leaves_a_batch_in_another_its_workers():
    """Pools are per thread: stopping one thread's batch (an error, Ctrl-C) kills its own
    worker processes only; a batch of the same size running in another thread keeps going
    (with one shared pool it lost its workers and raised)."""
    import threading

    from csi_models.batch import parallel

    pools = {}
    both = threading.Barrier(2)

    def take(name):
        pools[name] = parallel._pool(1)
        both.wait(timeout=60)   # both alive at once: a finished thread's id can be reused
    threads = [threading.Thread(target=take, args=(name,)) for name in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert pools["a"] is not pools["b"]
    # the threads have finished: the next call retires their pools
    parallel.stop_pool(parallel._pool(1))
    assert pools["a"]._flags.shutdown and pools["b"]._flags.shutdown

    # one batch stopped early while another, in a second thread, runs to the end
    data = survey(groups=12, n=60)
    done = {}

    def full():
        done["batch"] = fit_many("acsi", data, by="company", bootstrap=200, random_state=1,
                                 n_jobs=2)
    runner = threading.Thread(target=full)
    runner.start()
    stopped = parallel.run_tasks(
        [(key, rows, csi.load_spec("acsi"), "pls", {"bootstrap": 200, "n_jobs": 1}, 1, 30)
         for key, rows in data.groupby("company")], ["company"], True, 2, None)
    next(stopped)
    stopped.close()                     # GeneratorExit: this thread's pool is killed
    runner.join()
    assert (done["batch"].status["status"] == "ok").all() and len(done["batch"].status) == 12
