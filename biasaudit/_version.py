"""The version of biasaudit (read by setup.cfg and by every module that reports it)."""
__version__ = "0.1.0"
