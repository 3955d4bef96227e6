"""The public API: every name resolves, whatever is touched first, and importing the package
(or fitting PLS) loads neither semopy/sympy nor matplotlib."""

import subprocess
import sys

import pytest

import csi_models as csi


@pytest.mark.parametrize("first", ["population", "simulate", "compare", "Comparison", "kano"])
def test_public_names_resolve_in_any_order(first):
    code = (f"import types, csi_models as csi; csi.{first}\n"
            "bad = [n for n in csi.__all__ if n not in ('datasets', 'errors') and\n"
            "       isinstance(getattr(csi, n), types.ModuleType)]\n"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_every_public_name_is_documented_in_dir():
    assert set(csi.__all__) <= set(dir(csi))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        csi.nope  # noqa: B018


def test_import_and_a_pls_fit_load_no_heavy_packages():
    code = ("import sys, csi_models as csi\n"
            "heavy = ('semopy', 'sympy', 'matplotlib', 'scipy.stats')\n"
            "assert not [m for m in heavy if m in sys.modules], 'import'\n"
            "res = csi.fit('ecsi', csi.datasets.load_ecsi_mobi())\n"
            "res.indices, res.effects, res.quality\n"
            "assert not [m for m in ('semopy', 'sympy', 'matplotlib') if m in sys.modules], 'fit'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_the_cli_fit_without_a_bootstrap_loads_no_heavy_packages():
    """`csi fit ecsi --data demo --method pls` (the README's first command) imports neither
    semopy, matplotlib nor joblib (0.4 s; only a bootstrap may start joblib workers)."""
    code = ("import sys, io, contextlib\n"
            "from csi_models.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert main(['fit', 'ecsi', '--data', 'demo', '--method', 'pls']) == 0\n"
            "heavy = ('semopy', 'sympy', 'matplotlib', 'joblib', 'scipy.stats')\n"
            "assert not [m for m in heavy if m in sys.modules], [m for m in heavy if m in sys.modules]\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
