"""The csi command, run in-process through its main() and once as a real subprocess."""

import subprocess
import sys


from csi_models import cli
from csi_models.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_specs_lists_the_shipped_models(capsys):
    code, out, _ = run(capsys, "specs")
    assert code == 0
    assert "acsi" in out and "ecsi   European Customer Satisfaction Index: 7 constructs, 24 items, 12 paths" in out
    _, out, _ = run(capsys, "specs", "--lang", "zh")
    assert "中国顾客满意度指数" in out


def test_fit_demo_prints_paths_and_r2(capsys):
    code, out, _ = run(capsys, "fit", "ecsi", "--data", "demo", "--method", "pls")
    assert code == 0
    assert out.splitlines()[1].startswith("Status: converged")
    assert "Quality (Perceived quality) Satisfaction (Customer satisfaction)     0.512" in out
    code, out, _ = run(capsys, "fit", "acsi", "--data", "demo", "--method", "cbsem")
    assert code == 0 and "CB-SEM" in out and "max |gradient|" in out


def test_fit_takes_se_and_weights(capsys, tmp_path, mobi):
    """--se robust gives lavaan's MLR (the scaled chi-square among the fit lines), --weights
    a weighted fit; --se with PLS is a one-line error naming the option."""
    code, out, _ = run(capsys, "fit", "acsi", "--data", "demo", "--method", "cbsem",
                       "--se", "robust")
    assert code == 0 and "chisq.scaled" in out.split("Model fit:")[1]
    weighted = mobi.assign(w=0.5 + (mobi.index % 4) / 2)
    weighted.to_csv(tmp_path / "w.csv", index=False)
    code, out, _ = run(capsys, "fit", "acsi", "--data", str(tmp_path / "w.csv"), "--weights", "w")
    assert code == 0 and "respondent_weights: column 'w'" in out
    code, _, err = run(capsys, "fit", "acsi", "--data", "demo", "--se", "robust")
    assert code == 1 and err.count("\n") == 1 and "se='robust' is a CB-SEM option" in err


def test_validate_with_data(capsys, tmp_path, mobi):
    bad = mobi.copy()
    bad.loc[3, "CUEX1"] = 42
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    code, out, err = run(capsys, "validate", "ecsi", "--data", "demo")
    assert code == 0 and "Data check for model ecsi: 250 rows, 250 usable (listwise)" in out
    code, out, err = run(capsys, "validate", "ecsi", "--data", str(path))
    assert code == 1 and "1 error(s)" in out and "item CUEX1" in out and "rows 5 (42)" in out
    assert err.startswith("csi: error:")


def test_errors_are_one_line_with_status_1(capsys):
    code, _, err = run(capsys, "fit", "nonexistent", "--data", "demo")
    assert code == 1 and err.startswith("csi: error: no spec named 'nonexistent'")
    assert "Traceback" not in err


def test_console_script_runs():
    done = subprocess.run([sys.executable, "-m", "csi_models.cli", "specs"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "ccsi" in done.stdout


# ---- csi kano ----------------------------------------------------------------------

# feature x: A=3, O=2, M=4, I=1, R=1, Q=2 (hand-counted with the Berger et al. 1993 table)
X_PAIRS = [(1, 2), (1, 3), (1, 4), (1, 5), (1, 5), (2, 5), (3, 5), (4, 5), (2, 5), (3, 3),
           (5, 1), (1, 1), (5, 5)]
# feature y as labels: 4 x (like, neutral) = A, 9 x (neutral, neutral) = I
Y_PAIRS = [("I like it", "neutral")] * 4 + [("neutral", "I am neutral")] * 9


def kano_csv(path):
    import pandas as pd

    table = pd.DataFrame({"x_f": [p[0] for p in X_PAIRS], "x_d": [p[1] for p in X_PAIRS],
                          "y_f": [p[0] for p in Y_PAIRS], "y_d": [p[1] for p in Y_PAIRS],
                          "x_imp": [5] * 12 + [6], "y_imp": [2, 3] + [""] * 11})
    table.to_csv(path, index=False)
    return table


def parse_table(out: str) -> dict:
    """The printed Kano table as {feature: {column: text}}."""
    lines = [line.split() for line in out.splitlines() if line.strip()]
    header = lines[0]
    return {row[0]: dict(zip(header, row[1:])) for row in lines[2:]}


def test_kano_counts_from_a_csv(capsys, tmp_path):
    path = tmp_path / "kano.csv"
    kano_csv(path)
    code, out, err = run(capsys, "kano", str(path), "--features", "x", "y")
    assert code == 0
    rows = parse_table(out)
    assert list(rows) == ["x", "y"]  # priority order: must-be x before attractive y
    assert [rows["x"][c] for c in "AOMIRQ"] == ["3", "2", "4", "1", "1", "2"]
    assert (rows["x"]["category"], rows["x"]["better"], rows["x"]["worse"]) == ("M", "0.500",
                                                                                 "-0.600")
    assert [rows["y"][c] for c in "AOMIRQ"] == ["4", "0", "0", "9", "0", "0"]
    assert rows["y"]["better"] == f"{4 / 13:.3f}" and rows["y"]["priority"] == "2"
    assert "importance" not in out
    # 2 Q of 13 = 15 % > 10 %: one warning line on stderr, not a Python warning
    assert err.strip() == ("csi: warning: questionable (contradictory) answer share above 10% "
                           "for features 'x' 15%; check the wording of their questions")


def test_kano_importance_option(capsys, tmp_path):
    path = tmp_path / "kano.csv"
    kano_csv(path)
    code, out, _ = run(capsys, "kano", str(path), "--features", "x", "y",
                       "--importance", "{}_imp")
    assert code == 0
    rows = parse_table(out)
    assert rows["x"]["importance"] == f"{(12 * 5 + 6) / 13:.3f}"
    assert rows["y"]["importance"] == "2.500"


def test_kano_bad_template_and_columns(capsys, tmp_path):
    path = tmp_path / "kano.csv"
    kano_csv(path)
    for template in ("x", "{x}"):
        code, out, err = run(capsys, "kano", str(path), "--features", "x", "--functional", template)
        assert code == 1 and out == "" and "Traceback" not in err
        assert err.startswith(f"csi: error: the functional column template {template!r} must "
                              "contain exactly one {}")
    code, _, err = run(capsys, "kano", str(path), "--features", "x", "z", "--importance", "{}_i")
    assert code == 1 and "no columns z_f, z_d, x_i, z_i" in err


def test_sheet_option_on_kano_and_compare(capsys, tmp_path, mobi):
    import pandas as pd

    path = tmp_path / "survey.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"other": [1]}).to_excel(writer, sheet_name="first", index=False)
        kano_csv(tmp_path / "k.csv").to_excel(writer, sheet_name="kano", index=False)
        mobi.to_excel(writer, sheet_name="ecsi", index=False)
    code, out, _ = run(capsys, "kano", str(path), "--features", "x", "--sheet", "kano")
    assert code == 0 and parse_table(out)["x"]["M"] == "4"
    code, out, _ = run(capsys, "compare", "acsi", "ecsi", "--data", str(path), "--sheet", "ecsi")
    assert code == 0 and "acsi" in out and "ecsi" in out


def test_sheet_with_demo_data_is_an_error(capsys):
    for command in (["fit", "ecsi"], ["compare", "ecsi", "acsi"], ["validate", "ecsi"]):
        code, out, err = run(capsys, *command, "--data", "demo", "--sheet", "Foo")
        assert code == 1 and out.startswith("spec ecsi: OK" if command[0] == "validate" else "")
        assert "--sheet Foo applies to Excel files; 'demo' is the bundled" in err


def test_fit_reports_a_missing_scale_once(capsys, tmp_path):
    from importlib import resources

    import yaml

    shipped = resources.files("csi_models.model_specs") / "ecsi.yaml"
    spec = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    spec.pop("scale")
    spec["name"] = "noscale"
    path = tmp_path / "noscale.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    code, out, _ = run(capsys, "fit", str(path), "--data", "demo")
    assert code == 0
    warning_lines = [line for line in out.splitlines() if line.startswith("Warning:")]
    scale = [line for line in warning_lines if "no declared scale" in line]
    assert len(scale) == 1, warning_lines
    assert scale[0].startswith("Warning: DataWarning: 24 items have no declared scale and were "
                               "assumed 1..10: CUSCO, CUEX1, CUEX2")




# ---- exit codes, --out, --version (issue 12) -------------------------------------------

import os
import signal
import time

import pytest

import csi_models


def test_exit_codes_are_documented_in_help(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    out = capsys.readouterr().out
    assert stop.value.code == 0
    for line in ("0    ok", "1    bad input", "2    estimation failed or did not converge",
                 "3    partial", "130  interrupted"):
        assert line in out


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"csi-models {csi_models.__version__}"


def test_bad_input_exits_1(capsys, tmp_path):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("name: x\nconstructs: [\n", encoding="utf-8")
    cases = [("fit", "ecsi", "--data", str(tmp_path / "missing.csv")),       # missing file
             ("fit", str(bad_yaml), "--data", "demo"),                        # bad YAML
             ("fit", "nonexistent", "--data", "demo"),                        # unknown spec
             ("fit", "ecsi", "--data", "demo", "--out", str(tmp_path / "r.docx"))]  # format
    for argv in cases:
        code, _, err = run(capsys, *argv)
        assert code == 1, (argv, err)
        assert err.count("\n") == 1 and "Traceback" not in err, err
    with pytest.raises(SystemExit) as stop:  # usage errors: argparse exits, with status 1
        main(["fit", "ecsi", "--data", "demo", "--method", "wls"])
    assert stop.value.code == 1 and "invalid choice: 'wls'" in capsys.readouterr().err


def test_bad_data_exits_1(capsys, tmp_path, mobi):
    bad = mobi.copy()
    bad.loc[3, "CUEX1"] = 42
    bad.to_csv(tmp_path / "bad.csv", index=False)
    code, _, err = run(capsys, "fit", "ecsi", "--data", str(tmp_path / "bad.csv"))
    assert code == 1 and err.startswith("csi: error:") and "CUEX1" in err


def test_estimation_failure_and_non_convergence_exit_2(capsys, monkeypatch, mobi):
    from csi_models.errors import EstimationError

    def failing(*args, **kwargs):
        raise EstimationError("the sample covariance matrix is singular")

    monkeypatch.setattr(csi_models, "fit", failing)
    code, _, err = run(capsys, "fit", "ecsi", "--data", "demo")
    assert code == 2 and err == "csi: error: the sample covariance matrix is singular\n"
    monkeypatch.undo()
    real = csi_models.fit

    def one_iteration(*args, **kwargs):  # a real fit stopped after one iteration
        return real(*args, **{**kwargs, "max_iter": 1})

    monkeypatch.setattr(csi_models, "fit", one_iteration)
    code, out, err = run(capsys, "fit", "ecsi", "--data", "demo")
    assert code == 2 and "NOT converged" in out and "did not converge" in err


def test_compare_partial_and_total_failure(capsys, mobi):
    code, out, err = run(capsys, "compare", "acsi", "--data", "demo", "--by", "CUSCO",
                         "--permutations", "10")
    assert code == 2 and "Empty DataFrame" not in out and "no group could be fitted" in err


def test_compare_partial_exits_3(capsys, tmp_path, mobi):
    data = mobi.assign(segment=["a"] * 120 + ["b"] * 125 + ["c"] * 5)
    data.to_csv(tmp_path / "seg.csv", index=False)
    code, out, err = run(capsys, "compare", "acsi", "--data", str(tmp_path / "seg.csv"),
                         "--by", "segment", "--permutations", "20", "--seed", "1")
    assert code == 3 and "1 of 3 groups failed" in err


def test_interrupt_exits_130_without_traceback(capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(csi_models, "fit", interrupted)
    code, _, err = run(capsys, "fit", "ecsi", "--data", "demo")
    assert code == 130 and err == "csi: interrupted\n"
    code, _, err = run(capsys, "fit", "ecsi", "--data", "demo", "--debug")
    assert code == 130 and "Traceback" in err  # --debug shows it


def test_a_second_ctrl_c_while_the_workers_stop_still_exits_130_quietly(capsys, monkeypatch):
    """The second Ctrl-C of an impatient user lands in ``_stop_workers`` (Python's own handler
    is back by then): csi leaves with its one line, not a traceback of the first."""
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(csi_models, "fit", interrupted)
    monkeypatch.setattr(cli, "_stop_workers", interrupted)
    code, _, err = run(capsys, "fit", "ecsi", "--data", "demo")
    assert code == 130 and err == "csi: interrupted\n"


def test_out_writes_by_extension_and_refuses_to_overwrite(capsys, tmp_path):
    target = tmp_path / "ecsi.json"
    code, _, err = run(capsys, "fit", "ecsi", "--data", "demo", "--out", str(target))
    assert code == 0 and f"written to {target}" in err
    from csi_models.report.json_io import read_result

    assert list(read_result(target).paths.columns[:3]) == ["source", "target", "estimate"]
    before = target.read_bytes()
    code, _, err = run(capsys, "fit", "ecsi", "--data", "demo", "--out", str(target))
    assert code == 1 and "exists" in err and "--overwrite" in err and target.read_bytes() == before
    code, _, _ = run(capsys, "fit", "ecsi", "--data", "demo", "--out", str(target), "--overwrite")
    assert code == 0
    svg = tmp_path / "cmp.svg"
    code, _, _ = run(capsys, "compare", "acsi", "ecsi", "--data", "demo", "--out", str(svg),
                     "--lang", "zh")
    assert code == 0 and "顾客满意度" in svg.read_text(encoding="utf-8")


def _group(pgid: int) -> list:
    """(pid, ignores SIGINT, command line) of the live processes of a process group."""
    members = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
            ignored = [line for line in open(f"/proc/{d}/status") if line.startswith("SigIgn")]
            cmd = open(f"/proc/{d}/cmdline").read().replace("\0", " ")
        except (OSError, IndexError):
            continue
        if int(stat[2]) == pgid and stat[0] != "Z":
            members.append((int(d), bool(int(ignored[0].split()[1], 16) & 2), cmd))
    return members


def _workers(pgid: int) -> list:
    """The worker processes of process group ``pgid``: every member but csi itself and
    loky's resource tracker."""
    return [m for m in _group(pgid) if m[0] != pgid and "resource_tracker" not in m[2]]


def _default_sigint() -> None:
    """csi as a terminal starts it in the foreground: Ctrl-C at its default. A test run
    started as a background job of a non-interactive shell (``pytest &``, as some CI runners
    do) has SIGINT ignored, and every process it starts would inherit that (csi then rightly
    keeps ignoring it): that made this test time out there."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt_once_workers_run(args: list, workers: int,
                                again_after: float | None = None) -> None:
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) once ``workers``
    worker processes (loky's, or forked by a batch) run ``csi args``: exit 130, one line, no
    traceback, no process left. ``again_after``: a second Ctrl-C that many seconds later."""
    env = dict(os.environ, PYTHONPATH=str(__import__("pathlib").Path(__file__).parents[1]))
    proc = subprocess.Popen([sys.executable, "-m", "csi_models.cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, env=env,
                            preexec_fn=_default_sigint)
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            running = _workers(proc.pid)
            if len(running) == workers and all(ignored for _, ignored, _ in running):
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        else:
            pytest.fail("the workers did not start")
        main = [m for m in _group(proc.pid) if m[0] == proc.pid]
        assert main and not main[0][1], f"csi itself ignores SIGINT: {main}"
        os.killpg(proc.pid, signal.SIGINT)
        if again_after is not None:
            time.sleep(again_after)
            try:
                os.killpg(proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            left = _group(proc.pid)
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            pytest.fail(f"csi did not exit within 120 s of Ctrl-C; processes left: {left}; "
                        f"stderr: {err[-2000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and err.strip().endswith("csi: interrupted"), err[-1000:]
    assert "Traceback" not in err
    time.sleep(0.5)
    assert _workers(proc.pid) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc (Linux)")
def test_ctrl_c_stops_the_workers_of_a_cbsem_bootstrap():
    _interrupt_once_workers_run(["fit", "acsi", "--data", "demo", "--method", "cbsem",
                                 "--bootstrap", "5000", "--n-jobs", "2", "--seed", "1"], 2)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc (Linux)")
@pytest.mark.parametrize("again_after", [0.1, 0.3])
def test_a_second_ctrl_c_while_csi_exits_still_exits_130(again_after):
    """The interpreter takes ~0.6 s to exit after 'csi: interrupted'; a second Ctrl-C there
    killed it by SIGINT (exit -2): csi now ignores Ctrl-C once it is ending."""
    _interrupt_once_workers_run(["fit", "acsi", "--data", "demo", "--method", "cbsem",
                                 "--bootstrap", "5000", "--n-jobs", "2", "--seed", "1"], 2,
                                again_after=again_after)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc (Linux)")
def test_ctrl_c_stops_a_batch_and_its_worker(tmp_path):
    """``csi batch --jobs 2``: this process fits chunks itself beside one worker (forked:
    csi has no other thread)."""
    data = tmp_path / "companies.csv"
    csi_models.simulate("acsi", 200, groups=60, random_state=1, discrete=True).to_csv(data,
                                                                                     index=False)
    _interrupt_once_workers_run(["batch", "acsi", "--data", str(data), "--by", "group",
                                 "--bootstrap", "3000", "--jobs", "2", "--seed", "1"], 1)


@pytest.mark.parametrize("quiet", [False, True])
def test_loky_resource_tracker_exit_warnings_stay_off_csis_stderr(quiet):
    """A semaphore left registered (a Ctrl-C between loky making one and unregistering it)
    made loky's resource tracker, which shares csi's stderr, print two warnings after
    'csi: interrupted'. csi hands the tracker a warning filter (cli._quiet_resource_tracker);
    without it the leak is reported (the check that this test sees the tracker's output)."""
    code = ("import sys\n"
            "from csi_models import cli\n"
            "if sys.argv[1] == 'quiet':\n"
            "    cli._quiet_resource_tracker()\n"
            "from joblib.externals.loky.backend import resource_tracker\n"
            "resource_tracker.register('/csi-test-never-made', 'semlock')\n")
    env = dict(os.environ, PYTHONPATH=str(__import__("pathlib").Path(__file__).parents[1]))
    done = subprocess.run([sys.executable, "-c", code, "quiet" if quiet else "loud"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert ("leaked semlock" in done.stderr) is not quiet, done.stderr


def test_every_command_hands_the_resource_tracker_its_filter(capsys, monkeypatch):
    """main() installs the filter before the command runs (the tracker starts later, with
    the -W options of sys.warnoptions)."""
    monkeypatch.setattr(sys, "warnoptions", [])
    code, _, _ = run(capsys, "specs")
    assert code == 0 and sys.warnoptions == [cli.TRACKER_WARNINGS]


def test_ctrl_c_outside_joblib_abort_kills_the_queued_work():
    """A Ctrl-C that joblib does not see (raised outside its retrieval, chunks still queued):
    csi stops the workers at once. It used to ask get_reusable_executor() for the executor,
    which, seeing other arguments than the command's (no initializer), first shut it down
    without killing the workers, i.e. ran every queued chunk (the workers ignore Ctrl-C)."""
    import threading
    import warnings

    from joblib import Parallel, delayed, parallel_config

    from csi_models import cli

    with warnings.catch_warnings(), parallel_config(backend="loky",
                                                    initializer=cli._ignore_sigint):
        warnings.simplefilter("ignore")
        work = Parallel(n_jobs=2, return_as="generator")(delayed(time.sleep)(3)
                                                          for _ in range(20))
        next(work)  # workers busy, chunks queued
        stopper = threading.Thread(target=cli._stop_workers, daemon=True)
        start = time.time()
        stopper.start()
        stopper.join(timeout=30)
        assert not stopper.is_alive(), "csi waited for the queued chunks"
        assert time.time() - start < 15
        work.close()


def test_ctrl_c_inside_code_run_by_exec_still_exits_130(tmp_path):
    """A plain KeyboardInterrupt leaving code that ``exec`` runs from a string (a dataclass or
    namedtuple being made as Ctrl-C comes) made ``python -m csi_models.cli`` end by SIGINT
    (-2) after printing 'csi: interrupted': CPython notes it as unhandled and kills itself at
    exit. It failed ``test_ctrl_c_stops_a_batch_and_its_worker`` in about one run of four
    on a 2-core machine; here the interrupt lands there every time."""
    (tmp_path / "interrupt_in_exec.py").write_text(
        "import sys\n"
        "import joblib.externals.loky  # imported, as in a batch: nothing is exec'd later\n"
        "from csi_models import cli\n"
        "def _run(args):\n"
        "    exec('import os, signal\\nos.kill(os.getpid(), signal.SIGINT)\\n'\n"
        "         'for _ in range(10**7): pass')\n"
        "cli._run = _run\n"
        "sys.exit(cli.main(['specs']))\n")
    root = str(__import__("pathlib").Path(__file__).parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, str(tmp_path)]))
    proc = subprocess.run([sys.executable, "-m", "interrupt_in_exec"], capture_output=True,
                          text=True, env=env, cwd=tmp_path, preexec_fn=_default_sigint,
                          timeout=120)
    assert proc.returncode == 130 and proc.stderr.strip() == "csi: interrupted", proc.stderr
