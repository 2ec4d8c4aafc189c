"""Orchestration: roles -> counts -> detectors -> families -> severity -> folding -> :class:`AuditResult`."""
from .grading import grade
from .run import audit
from .tables import group_table

__all__ = ["audit", "grade", "group_table"]
