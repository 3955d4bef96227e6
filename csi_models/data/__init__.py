"""Survey data: reading files, checking them against a spec, preparing the item matrix."""

from csi_models.data.check import CheckReport, rows_text
from csi_models.data.prepare import SurveyData, check, prepare
from csi_models.data.readers import as_frame, read_survey

__all__ = ["CheckReport", "SurveyData", "as_frame", "check", "prepare", "read_survey", "rows_text"]
