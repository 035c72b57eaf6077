"""thinkpack-cli: the ``tp`` toolkit for reasoning blocks in training and evaluation data."""

__version__ = "0.1.0"
