"""Experiments: validated configs and the stages that run them."""
