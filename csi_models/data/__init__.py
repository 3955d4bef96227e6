"""Survey data: reading files, checking them against a spec, preparing the item matrix."""

from csi_models.data.check import CheckReport, check
from csi_models.data.prepare import SurveyData, prepare
from csi_models.data.readers import read_survey

__all__ = ["CheckReport", "SurveyData", "check", "prepare", "read_survey"]
