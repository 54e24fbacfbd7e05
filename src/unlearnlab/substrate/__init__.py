"""The substrate every model of an experiment is trained from, and the config it is built
from: YAML files (``files``, imports nothing heavy, so the command line can list shipped
configs quickly), the validated experiment config (``config``) and the world, splits,
corpora and reference models built from it (``build``).

It sits above worlds, corpus and models and below probes, methods, attacks and
experiments, which all build on it.
"""
