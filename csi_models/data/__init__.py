"""Survey data: reading files and preparing the checked item matrix for a spec."""

from csi_models.data.prepare import SurveyData, prepare
from csi_models.data.readers import read_survey

__all__ = ["SurveyData", "prepare", "read_survey"]
