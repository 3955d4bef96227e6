"""The csi command, run in-process through its main() and once as a real subprocess."""

import subprocess
import sys


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


def test_validate_with_data(capsys, tmp_path, mobi):
    bad = mobi.copy()
    bad.loc[3, "CUEX1"] = 42
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    code, out, err = run(capsys, "validate", "ecsi", "--data", "demo")
    assert code == 0 and "Data check for model ecsi: 250 rows, 250 usable (listwise)" in out
    code, out, err = run(capsys, "validate", "ecsi", "--data", str(path))
    assert code == 2 and "1 error(s)" in out and "item CUEX1" in out and "rows 3 (42)" in out
    assert err.startswith("csi: error:")


def test_errors_are_one_line_with_status_2(capsys):
    code, _, err = run(capsys, "fit", "nonexistent", "--data", "demo")
    assert code == 2 and err.startswith("csi: error: no spec named 'nonexistent'")
    assert "Traceback" not in err


def test_console_script_runs():
    done = subprocess.run([sys.executable, "-m", "csi_models.cli", "specs"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "ccsi" in done.stdout
