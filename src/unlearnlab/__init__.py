"""unlearnlab: put claims about machine unlearning of language models to a controlled test."""

__version__ = "0.1.0"
