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
    assert code == 2 and "1 error(s)" in out and "item CUEX1" in out and "rows 5 (42)" in out
    assert err.startswith("csi: error:")


def test_errors_are_one_line_with_status_2(capsys):
    code, _, err = run(capsys, "fit", "nonexistent", "--data", "demo")
    assert code == 2 and err.startswith("csi: error: no spec named 'nonexistent'")
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
        assert code == 2 and out == "" and "Traceback" not in err
        assert err.startswith(f"csi: error: the functional column template {template!r} must "
                              "contain exactly one {}")
    code, _, err = run(capsys, "kano", str(path), "--features", "x", "z", "--importance", "{}_i")
    assert code == 2 and "no columns z_f, z_d, x_i, z_i" in err


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
        assert code == 2 and out.startswith("spec ecsi: OK" if command[0] == "validate" else "")
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


