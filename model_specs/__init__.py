"""The shipped model specs (YAML files), installed as package data of csi_models."""
