"""`odspec plan`: what a spec change would do, compared with a baseline, classified by the run's own rule.

- ``model``: the plan as data (sections of rows, one classification), and its JSON form;
- ``diff``: pure comparisons of spec values, parsed pipeline.configs and per-image dataset entries;
- ``classify``: the one classification, from :func:`odspec.reconcile.plan.classify_change`;
- ``render``: the terminal, markdown and JSON forms;
- ``fast``: the no-op answer without pydantic, the compiler or typer.
"""
