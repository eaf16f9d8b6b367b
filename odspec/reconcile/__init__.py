"""Reconcile a model directory with the spec: observe what is there, then plan (pure) what to do.

- ``record``: the run record ``odspec-run.json``, what produced a model directory's checkpoints;
- ``state``: ``observe(model_dir)``, read without TensorFlow;
- ``plan``: ``plan(state, new_record)`` -> Start | Resume | Refuse.

Nothing is re-exported here: ``plan`` is both a module and its main function.
"""
