"""Model specifications: the ModelSpec data classes, YAML loading and validation."""

from csi_models.spec.loading import load_spec, shipped_specs, spec_from_dict, spec_from_yaml
from csi_models.spec.model import Construct, Item, ModelSpec, Scale

__all__ = ["Construct", "Item", "ModelSpec", "Scale", "load_spec", "shipped_specs",
           "spec_from_dict", "spec_from_yaml"]
