"""Importance-performance map, recomputed by hand from the fit's weights, item stats and effects."""

import numpy as np
import pytest

import csi_models as csi
from csi_models.cli import main


@pytest.fixture(scope="module")
def res(mobi):
    return csi.fit("ecsi", mobi, method="pls")


def test_ipma_recomputed_by_hand(res):
    ipma = res.ipma("Satisfaction")
    w = res.weights.set_index("item")["estimate"]
    stats = res.item_stats.set_index("item")
    effects = res.effects[(res.effects.target == "Satisfaction") & (res.effects.effect == "total")].set_index("source")

    def points_per_sd(construct):   # sd of the construct's 0-100 score
        items = res.spec.construct(construct).item_names
        return 100 / (w[items] / stats.loc[items, "sd"] * 9).sum()

    c_target = points_per_sd("Satisfaction")
    table = ipma.constructs.set_index("construct")
    assert sorted(table.index) == ["Expectation", "Image", "Quality", "Value"]
    for construct, row in table.iterrows():
        importance = effects.loc[construct, "estimate"] * c_target / points_per_sd(construct)
        assert row.importance == pytest.approx(importance, abs=1e-12)
        items = res.spec.construct(construct).item_names
        raw = w[items] / stats.loc[items, "sd"]
        performance = 100 * ((raw / raw.sum()) * (stats.loc[items, "mean"] - 1) / 9).sum()
        assert row.performance == pytest.approx(performance, abs=1e-10)
    assert table.loc["Quality", "importance"] == pytest.approx(3.199 / 5, abs=1e-3)

    ind = ipma.items.set_index("item")
    assert len(ind) == 5 + 3 + 7 + 2
    for item, row in ind.iterrows():
        items = res.spec.construct(row.construct).item_names
        raw = w[items] / stats.loc[items, "sd"]           # same 1..10 scale: rescaled weight
        assert row.weight == pytest.approx(raw[item] / raw.sum(), abs=1e-12)
        assert row.importance == pytest.approx(row.weight * table.loc[row.construct, "importance"], abs=1e-12)
        assert row.performance == pytest.approx(100 * (stats.loc[item, "mean"] - 1) / 9, abs=1e-12)
    np.testing.assert_allclose(ind.groupby("construct").weight.sum(), 1, atol=1e-12)


def test_ipma_plot_has_points_and_mean_lines(res):
    import matplotlib

    matplotlib.use("Agg")
    ipma = res.ipma("Loyalty")
    ax = ipma.plot()
    x, y = ax.collections[0].get_offsets().T
    np.testing.assert_allclose(x, ipma.constructs.importance)
    assert ax.lines[0].get_xdata()[0] == pytest.approx(ipma.constructs.importance.mean())
    assert ax.lines[1].get_ydata()[0] == pytest.approx(ipma.constructs.performance.mean())
    ax = ipma.plot(level="items")
    assert len(ax.collections[0].get_offsets()) == len(ipma.items)


def test_ipma_needs_positive_weights_pls_and_a_reachable_target(mobi, res):
    flipped = mobi.assign(IMAG3=11 - mobi["IMAG3"])
    bad = csi.fit("ecsi", flipped)
    with pytest.raises(csi.errors.CSIError, match=r"IPMA needs positive outer weights: index of Image "
                                                  r"not defined: negative weight of IMAG3"):
        bad.ipma("Satisfaction")
    with pytest.raises(csi.errors.CSIError, match="exogenous"):
        res.ipma("Image")
    with pytest.raises(csi.errors.CSIError, match="'Happiness' is not a construct"):
        res.ipma("Happiness")


def test_cli_ipma(capsys, tmp_path):
    plot = tmp_path / "ipma.png"
    assert main(["ipma", "ecsi", "--data", "demo", "--target", "Satisfaction", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "Importance-performance map of Satisfaction" in out
    first = out.split("Constructs:")[1].splitlines()[2].split()
    assert first[0] == "Quality" and float(first[1]) == pytest.approx(0.640, abs=1e-3)
    assert plot.stat().st_size > 1000
    assert main(["ipma", "ecsi", "--data", "demo", "--target", "Image"]) == 1  # bad input: a target nothing reaches


def test_cli_fit_with_bootstrap(capsys):
    assert main(["fit", "ecsi", "--data", "demo", "--bootstrap", "50", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "Bootstrap: 50 of 50 resamples used (0 failed), seed 2" in out
    assert "Indices (0-100):" in out and "Impacts" in out
