"""The same CB-SEM fit on every OpenBLAS kernel: a just-identified model (df = 0), whose ML
fit function is 0 up to rounding at the optimum, fitted in fresh interpreters under the
default kernel and under OPENBLAS_CORETYPE=Haswell (which round sums differently). Once,
semopy's objective returned inf for a loss of -2.2e-16 on SkylakeX and every such fit failed.
Reference: lavaan 0.6-14 (tests/fixtures/lavaan/just_identified_*.csv)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import lavaan_params

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = """
import json, warnings
import csi_models as csi
from csi_models.spec import spec_from_dict
spec = spec_from_dict({"name": "just", "scale": {"min": 1, "max": 10},
    "constructs": {"Quality": {"items": ["PERQ1", "PERQ2"]}, "Satisfaction": {"items": ["CUSA1"]}},
    "paths": ["Quality -> Satisfaction"]})
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    res = csi.fit(spec, csi.datasets.load_ecsi_mobi(), method="cbsem")
t = res.parameters
print(json.dumps({"converged": bool(res.converged), "objective": res.estimates.objective,
                  "est": {f"{r.lhs} {r.op} {r.rhs}": r.est for r in t.itertuples()}}))
"""


@pytest.mark.parametrize("coretype", [None, "Haswell"])
def test_just_identified_model_fits_on_every_openblas_kernel(coretype):
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    run = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["converged"] and 0 <= out["objective"] < 1e-10
    lav = lavaan_params("just_identified")
    for r in lav[lav.free > 0].itertuples():
        key = f"{r.lhs} {r.op} {r.rhs}"
        flipped = f"{r.rhs} {r.op} {r.lhs}"
        ours = out["est"].get(key, out["est"].get(flipped))
        assert ours == pytest.approx(r.est, abs=1e-6), key
