"""Batch estimation: one model over many companies, regions or waves (``fit_many``), Parquet
output and resume (``read_batch``), aggregation to industries and nations (``aggregate``),
change between waves (``change``) and sample planning (``plan_sample``)."""

from csi_models.batch.aggregate import aggregate
from csi_models.batch.change import adjust_p, change
from csi_models.batch.planning import SamplePlan, plan_sample
from csi_models.batch.run import BatchResult, fit_many, read_batch

__all__ = ["BatchResult", "SamplePlan", "adjust_p", "aggregate", "change", "fit_many", "plan_sample",
           "read_batch"]
