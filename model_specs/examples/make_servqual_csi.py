"""Simulate the example data servqual_csi.csv for servqual_csi.yaml with csi.simulate.

The population is the spec's disjoint first-stage model (each SERVQUAL dimension takes the
place of perceived Quality on its paths), a common-factor population with loadings 0.8,
answers rounded onto the items' scales. Run from the repository root:
    python model_specs/examples/make_servqual_csi.py
"""

from pathlib import Path

from csi_models.engines.higher_order import disjoint_spec
from csi_models.simulation import simulate
from csi_models.spec import load_spec

HERE = Path(__file__).parent
DIMENSIONS = ("Tangibles", "Reliability", "Responsiveness", "Assurance", "Empathy")
QUALITY_TO_VALUE = dict(zip(DIMENSIONS, (0.05, 0.15, 0.10, 0.10, 0.10)))
QUALITY_TO_SATISFACTION = dict(zip(DIMENSIONS, (0.05, 0.20, 0.10, 0.10, 0.10)))


def example_data(n: int = 400, random_state: int = 14):
    spec = disjoint_spec(load_spec(HERE / "servqual_csi.yaml"))
    paths = {("Expectation", d): 0.5 for d in DIMENSIONS}
    paths.update({(d, "Value"): v for d, v in QUALITY_TO_VALUE.items()})
    paths.update({(d, "Satisfaction"): v for d, v in QUALITY_TO_SATISFACTION.items()})
    paths.update({("Expectation", "Value"): 0.1, ("Expectation", "Satisfaction"): 0.1,
                  ("Value", "Satisfaction"): 0.3, ("Satisfaction", "Loyalty"): 0.6})
    return simulate(spec, n, paths=paths, loading_value=0.8, discrete=True,
                        random_state=random_state)


if __name__ == "__main__":
    example_data().to_csv(HERE / "servqual_csi.csv", index=False)
