"""Orchestration: roles -> counts -> detectors -> families -> severity -> folding -> :class:`AuditResult`."""
from .run import audit, grade, group_table

__all__ = ["audit", "grade", "group_table"]
