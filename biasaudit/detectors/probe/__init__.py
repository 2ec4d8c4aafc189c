"""The probe: which rules a small classifier learns from the data, and which of them are spurious.

``probe(ctx)`` is registered as the ``probe`` detector; the building blocks are usable alone:

models     one-hot pattern design, balanced tree (depth by CV) and L2 logistic regression, permutation test
rules      tree leaves as rules in words, naive and selection-adjusted leaf p, stratification, implied gaps
grid       predictions on unseen attribute combinations (full grid or adjacent combinations)
flips      counterfactual flip rates with bootstrap intervals; accuracy per group
detector   the detector: findings of bias type ``learned_rule`` and the ``probe`` report section
"""
from .detector import model_attributes, probe, resolve_non_causal
from .flips import flip_rates, group_accuracy
from .grid import unseen_combinations
from .models import Design, ModelFit, build_design, fit_models
from .rules import Rule, extract_rules, naive_leaf_p, selection_adjust

__all__ = ["probe", "model_attributes", "resolve_non_causal", "Design", "ModelFit", "build_design",
           "fit_models", "Rule", "extract_rules", "naive_leaf_p", "selection_adjust", "unseen_combinations",
           "flip_rates", "group_accuracy"]
