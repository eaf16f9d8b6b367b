"""``odspec deploy``: a spec and the deploy flags become a cluster manifest, as plain data, then bytes.

Pure: the API resolves the paths, checks them here and writes the bytes. Every task of the job runs
``odspec run SPEC --output plain`` in the same image; the platform's TF_CONFIG tells each one whether it is
the chief or a worker (:mod:`odspec.deploy.tfjob`, :mod:`odspec.deploy.vertex`).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import yaml

from odspec.deploy.common import (
    MANIFEST_NAMES,
    Deployment,
    DeployOptions,
    check_common,
    check_inside_project,
    check_target,
    container_path,
    project_relative,
)
from odspec.spec.load import LoadedSpec

__all__ = ["MANIFEST_NAMES", "DeployOptions", "Deployment", "deployment", "manifest_bytes"]


def deployment(loaded: LoadedSpec, options: DeployOptions, project_root: Path) -> Deployment:
    """The manifest for ``options.target``; ``project_root`` (resolved): the folder the tasks see at the mount."""
    from odspec.deploy.tfjob import DEFAULT_MOUNT, tfjob
    from odspec.deploy.vertex import custom_job

    target = check_target(options.target)
    warnings = check_common(loaded, options, target)
    spec_in_project = project_relative(loaded.path.resolve(), project_root)
    mount = options.mount_path or (DEFAULT_MOUNT if target == "kubernetes" else None)
    if mount is not None:
        check_inside_project(loaded, project_root, container_path("--mount-path", mount))
    build = tfjob if target == "kubernetes" else custom_job
    return replace(build(loaded, spec_in_project, options, warnings), source=str(spec_in_project))


def manifest_bytes(deployed: Deployment) -> bytes:
    """YAML with a header comment for kubectl, JSON for the Vertex AI API; the same deployment gives the same bytes."""
    if deployed.target == "vertex":
        return (json.dumps(deployed.manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    header = (f"# A Kubeflow TFJob written by `odspec deploy` from {deployed.source}; submit it with\n"
              f"#   kubectl create -f {deployed.filename}\n")
    body = yaml.safe_dump(deployed.manifest, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return (header + body).encode("utf-8")
