"""Loaders: turn a file or a DataFrame into a pandas DataFrame."""
from .tables import SUPPORTED_SUFFIXES, load

__all__ = ["load", "SUPPORTED_SUFFIXES"]
