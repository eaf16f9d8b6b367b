"""Hyperparameter search over a spec (``tune:``): the space checked, trials resolved, Optuna mapped, results written.

Everything here is pure and imports neither TensorFlow nor, until a study needs it, Optuna
(:mod:`odspec.tune.study` imports it inside its functions).
"""
