"""Hostile input for Kano and gap analysis: random and mutated answer tables, importance,
labels and column templates. Whatever goes in, only a CSIError may come out (no KeyError,
TypeError, numpy traceback or stray RuntimeWarning), and the caller's objects are unchanged."""

import copy
import decimal
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from csi_models.errors import CSIError, CSIWarning  # noqa: E402
from csi_models.analysis.gaps import GapResult, gaps, plot_gaps  # noqa: E402
from csi_models.analysis.kano import kano, kano_continuous, kano_priority, plot_kano  # noqa: E402
from csi_models.analysis.kano_layout import split_kano  # noqa: E402

SETTINGS = dict(deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

NAMES = st.sampled_from(["speed", "water", "防水", "a b", 0, 1, "", "x$y$"])
ODD = st.sampled_from([None, np.nan, pd.NA, True, False, np.True_, 0, 6, -1, 2.5, np.inf,
                       -np.inf, 1j, "1", " 5 ", "", "  ", "like", "I dislike it", "喜欢",
                       "不喜欢", "maybe", "nan", "inf", b"1", [1], {"a": 1},
                       pd.Timestamp("2024-01-01"), decimal.Decimal("2"), 10 ** 400,
                       np.float32(3), np.int64(4)])
KANO_CODE = st.sampled_from([1, 2, 3, 4, 5, 1.0, 5.0, np.nan, "like", "不喜欢"])
KANO_CELL = st.one_of(KANO_CODE, KANO_CODE, KANO_CODE, ODD)
RATING = st.one_of(st.integers(0, 10), st.floats(0, 10), st.just(np.nan), st.booleans())
RATING_CELL = st.one_of(RATING, RATING, st.integers(-2, 10), ODD)
INDEX = st.one_of(st.none(), st.just("shuffled"), st.just("dup"), st.just("text"),
                  st.just("multi"))
TEMPLATE = st.one_of(st.sampled_from(["{}_f", "{}_d", "{}", "q_{}", "{x}", "x", "{0}", "{}{}",
                                      "{:d}", "{!r}", "{", "}", "{{}}", "{[0]}", "{:>3}",
                                      "{}_imp"]),
                     st.text("{}_fdx:!0", max_size=6), st.integers(), st.none())


def _index(kind, n):
    if kind == "shuffled":
        return list(np.random.default_rng(n).permutation(n))
    if kind == "dup":
        return [0] * n
    if kind == "text":
        return [f"r{i}" for i in range(n)]
    if kind == "multi":
        return pd.MultiIndex.from_tuples([("g", i) for i in range(n)])
    return None


@st.composite
def tables(draw, cell, clean, names=None, n=None):
    """A DataFrame of ``cell`` values with odd names, dtypes and indexes; half of them clean."""
    names = names if names is not None else draw(st.lists(NAMES, min_size=0, max_size=3))
    n = n if n is not None else draw(st.integers(0, 6))
    columns = list(names)
    odd = draw(st.sampled_from(["", "", "", "", "", "", "dup", "multi"])) if columns else ""
    if odd == "dup":
        columns.append(columns[0])
    if draw(st.booleans()):
        cell = clean
    rows = [[draw(cell) for _ in columns] for _ in range(n)]
    frame = pd.DataFrame(rows, columns=columns, index=_index(draw(INDEX), n) if n else None,
                         dtype=object)
    if draw(st.booleans()):
        frame = frame.infer_objects()
    if odd == "multi":
        frame.columns = pd.MultiIndex.from_tuples([("q", i) for i in range(len(columns))])
    return frame


@st.composite
def hostile(draw, table):
    """Mostly a table, now and then something that is not one."""
    if draw(st.sampled_from([True] * 9 + [False])):
        return draw(table)
    return draw(st.sampled_from([None, "x", 5, [[1, 2]], {"a": [1]}, pd.Series([1, 2])]))


IMPORTANCE = st.one_of(
    st.none(), st.sampled_from(["x", 5, [1, 2], -1]),
    st.dictionaries(NAMES, RATING_CELL, max_size=4),
    st.builds(lambda keys, vals: pd.Series(vals[:len(keys)], index=keys[:len(vals)], dtype=object),
              st.lists(NAMES, max_size=4), st.lists(RATING_CELL, max_size=4)),
    tables(RATING_CELL, RATING))
LABELS = st.one_of(st.none(), st.sampled_from(["abc", 3, b"xy"]),
                   st.dictionaries(NAMES, st.sampled_from(["$x", "防水", "a$b$c", "", None]),
                                   max_size=3),
                   st.lists(st.sampled_from(["a", "$", "打字", "x_{1}"]), max_size=5),
                   st.builds(lambda k: pd.Series("l", index=k), st.lists(NAMES, max_size=3)))
CATEGORY = st.sampled_from(["A", "O", "M", "I", "R", "Q", None, np.nan, 1, "x", ("M",)])
KANO_TABLE = st.one_of(
    st.builds(lambda rows: pd.DataFrame(rows, columns=["category", "better", "worse"]),
              st.lists(st.tuples(CATEGORY, RATING_CELL, RATING_CELL), max_size=5)),
    st.builds(lambda rows, imp: pd.DataFrame(rows, columns=["category", "better", "worse"])
              .assign(importance=imp[:len(rows)] + [1] * (len(rows) - len(imp))),
              st.lists(st.tuples(CATEGORY, st.floats(0, 1), st.floats(-1, 0)), max_size=5),
              st.lists(RATING_CELL, max_size=5)),
    st.builds(lambda t: t, tables(RATING_CELL, RATING)), st.sampled_from(["x", None]))
AX = st.sampled_from([None, None, "ax", 3])


def snapshot(obj):
    return copy.deepcopy(obj)


def assert_same(before, after):
    if isinstance(before, pd.DataFrame):
        pd.testing.assert_frame_equal(after, before)
    elif isinstance(before, pd.Series):
        pd.testing.assert_series_equal(after, before)
    else:
        assert repr(after) == repr(before)


def call(fn, *args, **kwargs):
    """Run ``fn``; CSIErrors are fine, anything else (or a non-CSI warning) fails the test."""
    copies = [snapshot(a) for a in (*args, *kwargs.values())]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", CSIWarning)
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        try:
            out = fn(*args, **kwargs)
        except CSIError as exc:
            assert str(exc)  # a message, not an empty error
            out = None
    for before, after in zip(copies, (*args, *kwargs.values())):
        assert_same(before, after)
    return out


def close(ax):
    if ax is not None and hasattr(ax, "figure"):
        plt.close(ax.figure)


@settings(max_examples=150, **SETTINGS)
@given(st.data())
def test_kano_functions_raise_only_csi_errors(data):
    names = data.draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))
    n = data.draw(st.integers(0, 6))
    f = data.draw(hostile(tables(KANO_CELL, KANO_CODE, names, n)))
    mutate = data.draw(st.sampled_from(["same", "same", "same", "shuffle", "other", "drop"]))
    if mutate == "same":
        d = data.draw(hostile(tables(KANO_CELL, KANO_CODE, names, n)))
        if isinstance(f, pd.DataFrame) and isinstance(d, pd.DataFrame) and len(d) == len(f):
            d.index = f.index
    elif mutate == "shuffle" and isinstance(f, pd.DataFrame):
        d = f.iloc[::-1, ::-1].copy()
    elif mutate == "drop" and isinstance(f, pd.DataFrame):
        d = f.iloc[:-1].copy()
    else:
        d = data.draw(hostile(tables(KANO_CELL, KANO_CODE)))
    importance = data.draw(IMPORTANCE)
    q = data.draw(st.sampled_from([0.1, 0.1, 0.1, 0.0, 1.0, 0.5, -0.1, 1.5, "x", None, True,
                                   np.nan]))
    table = call(kano, f, d, importance=importance, q_threshold=q)
    call(kano_continuous, f, d, importance=importance)
    if table is not None:
        assert list(table.index) == list(f.columns)
        assert (table[list("AOMIRQ")].sum(axis=1) == table["n"]).all()
        call(kano_priority, table)
    call(kano_priority, data.draw(KANO_TABLE))


@settings(max_examples=100, **SETTINGS)
@given(st.data())
def test_split_kano_templates(data):
    names = data.draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))
    columns = [f"{x}_f" for x in names] + [f"{x}_d" for x in names] + [f"{x}_imp" for x in names]
    frame = pd.DataFrame([[1] * len(columns)], columns=columns)
    if data.draw(st.booleans()):
        frame = frame.iloc[:, data.draw(st.permutations(range(len(columns))))[:-1]]
    features = data.draw(st.one_of(st.just(names), NAMES, st.sampled_from([[], [1.5], None, [[1]],
                                                                         names + names])))
    templates = [data.draw(TEMPLATE) for _ in range(3)]
    out = call(split_kano, frame, features, *templates[:2], importance=templates[2])
    if out is not None:
        assert len(out) == (3 if templates[2] is not None else 2)
        assert all(list(x.columns) == list(features if not isinstance(features, (str, int))
                                           else [features]) for x in out)


@settings(max_examples=120, **SETTINGS)
@given(st.data())
def test_gaps_raise_only_csi_errors(data):
    names = data.draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))
    n = data.draw(st.integers(0, 6))
    e = data.draw(hostile(tables(RATING_CELL, RATING, names, n)))
    mutate = data.draw(st.sampled_from(["same", "same", "same", "index", "other"]))
    if mutate == "index" and isinstance(e, pd.DataFrame):
        p = e.iloc[::-1].copy()
    elif mutate == "other":
        p = data.draw(hostile(tables(RATING_CELL, RATING)))
    else:
        p = data.draw(hostile(tables(RATING_CELL, RATING, names, n)))
        if isinstance(e, pd.DataFrame) and isinstance(p, pd.DataFrame) and len(p) == len(e):
            p.index = e.index
    dims = data.draw(st.one_of(
        st.none(), st.none(), st.sampled_from(["x", [1]]),
        st.dictionaries(st.one_of(NAMES, st.sampled_from([None, 1.5, ("t",)])),
                        st.one_of(NAMES, st.lists(NAMES, max_size=3),
                                  st.sampled_from([[], 1.5, None, [[1]]])), max_size=3)))
    importance = data.draw(st.one_of(IMPORTANCE, st.dictionaries(
        st.sampled_from(list(dims) if isinstance(dims, dict) and dims else ["z"]),
        RATING_CELL, max_size=3)))
    result = call(gaps, e, p, dimensions=dims, importance=importance)
    if result is not None:
        assert isinstance(result, GapResult) and set(result.items.index) == set(e.columns)


@settings(max_examples=40, **SETTINGS)
@given(st.data())
def test_plots_raise_only_csi_errors(data):
    f = pd.DataFrame({"speed": [1, 1, 2, 3], "防水": [2, 2, 3, 1], "x$y": [1, 3, 3, 5]})
    d = pd.DataFrame({"speed": [5, 3, 5, 3], "防水": [5, 5, 3, 5], "x$y": [5, 5, 3, 1]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CSIWarning)
        good_kano = kano(f, d, importance={"speed": 3, "防水": 1, "x$y": 0})
        good_gaps = gaps(f, d)
    kano_table = data.draw(st.one_of(st.just(good_kano), KANO_TABLE,
                                     st.just(good_kano.assign(better="high")),
                                     st.just(good_kano.assign(importance=np.nan)),
                                     st.just(good_kano.assign(category=[[1], None, 3])),
                                     st.sampled_from(["x", None])))
    gap_table = data.draw(st.one_of(st.just(good_gaps), st.just(good_gaps.items),
                                    tables(RATING_CELL, RATING), st.sampled_from(["x", None]),
                                    st.just(good_gaps.items.assign(expectation="x"))))
    labels, ax = data.draw(LABELS), data.draw(AX)
    for fn, table in ((plot_kano, kano_table), (plot_gaps, gap_table)):
        drawn = call(fn, table, ax=ax, labels=labels)
        if drawn is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                warnings.filterwarnings("ignore", message="Glyph .* missing from font")
                drawn.figure.canvas.draw()  # a '$' in a name must not break mathtext
            close(drawn)
    plt.close("all")


def test_hostile_suite_can_fail():
    """The harness itself notices a non-CSI error and a modified input."""
    with pytest.raises(KeyError):
        call(lambda: {}["x"])
    frame = pd.DataFrame({"a": [1]})

    def mutate(x):
        x.loc[0, "a"] = 2

    with pytest.raises(AssertionError):
        call(mutate, frame)
