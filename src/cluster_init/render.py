"""`cluster-init render`: every manifest that would be applied for one context, secrets masked.

Bootstrap context: what the CLI applies (namespace, environment ConfigMap and Secret, this
repository's GitRepository, the chart's bootstrap HelmRelease), then what the chart renders.
Management context: the environment objects and the chart's management-side output.
"""

from __future__ import annotations

import copy
import os
from typing import Any

from cluster_init import flux, helm, paths, plan, tools, yamlfile
from cluster_init.environment import Environment
from cluster_init.errors import RuntimeFailure
from cluster_init.paths import chart_dir, components_dir
from cluster_init.values import merged

MASK = "*** masked by cluster-init ***"
SOURCE_VALUES = "cluster-init-source"  # the source `bootstrap --source` chose, as a values layer


def manifests(env: Environment, context: str, namespace: str) -> list[dict[str, Any]]:
    objects = cli_objects(env, namespace) if context == "bootstrap" else environment_objects(env, namespace)
    rendered = helm.template(env, context, namespace)
    plan.units(rendered, env.values.where)  # refuses unit paths that leave the repository
    return [mask(o) for o in objects + rendered]


def cli_objects(env: Environment, namespace: str, source: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """What the CLI applies to the bootstrap cluster itself (unmasked): Flux does the rest. A `source` (the
    chart's `source` values, from `bootstrap --source`) goes to the release as one more values layer."""
    namespace_object = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    values = merged(env, "bootstrap")
    if source is not None:
        values["source"] = source
    release = bootstrap_release(values, namespace)
    if source is not None:
        release.insert(0, {"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": SOURCE_VALUES, "namespace": namespace,
                                        "labels": {"app.kubernetes.io/part-of": "cluster-init"}},
                           "data": {"values": yamlfile.dump_one({"source": source})}})
        helm_release = next(o for o in release if o["kind"] == "HelmRelease")
        helm_release["spec"]["valuesFrom"].append({"kind": "ConfigMap", "name": SOURCE_VALUES, "valuesKey": "values"})
    return [namespace_object, *environment_objects(env, namespace), *source_auth(values, namespace), *release]


def source_auth(values: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
    """The git remote's credentials (`secrets.source`) as the Secret `source.secret_ref` names, when both are set."""
    credentials = (values.get("secrets") or {}).get("source")
    name = values["source"].get("secret_ref")
    if not credentials or not name or values["source"].get("kind") == "OCIRepository":
        return []
    labels = {"app.kubernetes.io/part-of": "cluster-init"}
    return [{"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
             "metadata": {"name": name, "namespace": namespace, "labels": labels},
             "stringData": {"username": credentials["username"], "password": credentials["password"]}}]


def environment_objects(env: Environment, namespace: str) -> list[dict[str, Any]]:
    """The environment's values ConfigMap and secrets Secret, in the release's namespace."""
    objects = []
    for obj in env.objects:
        placed = copy.deepcopy(obj)
        placed["metadata"]["namespace"] = namespace
        objects.append(placed)
    return objects


def bootstrap_release(values: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
    """The chart's bootstrap release with the variables the CLI fills in itself: telco-cloud-init/bootstrap for
    a git source; for an OCI one, telco-cloud-init/bootstrap-oci and the bootstrap values as a ConfigMap (a
    chart from an OCIRepository takes no values files)."""
    source = values["source"]
    oci = source.get("kind") == "OCIRepository"
    folder = os.path.join(components_dir(), "telco-cloud-init", "bootstrap-oci" if oci else "bootstrap")
    built = tools.run("kustomize", ["build", folder])
    if built.returncode != 0:
        raise RuntimeFailure(f"kustomize build of {paths.display(folder)} failed: {built.stderr.strip()}")
    variables = {"CLUSTER_INIT_NAMESPACE": namespace, "CLUSTER_INIT_SOURCE_URL": source["url"],
                 "CLUSTER_INIT_SOURCE_REF": source["ref"],
                 "CLUSTER_INIT_SOURCE_INSECURE": "true" if source.get("insecure") else "false"}
    objects = [_typed(flux.substitute_strings(obj, variables)) for obj in yamlfile.objects("kustomize", built.stdout)]
    if source.get("secret_ref") and not oci:
        repository = next(o for o in objects if o["kind"] == "GitRepository")
        repository["spec"]["secretRef"] = {"name": source["secret_ref"]}
    if oci:
        with open(os.path.join(chart_dir(), "bootstrap.values.yaml"), encoding="utf-8") as f:
            objects.insert(0, {"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": "cluster-init-bootstrap-values", "namespace": namespace,
                                            "labels": {"app.kubernetes.io/part-of": "cluster-init"}},
                               "data": {"values": f.read()}})
    return objects


def _typed(obj: dict[str, Any]) -> dict[str, Any]:
    """`insecure: ${VAR}` is a boolean once Flux substitutes the text; substituted as a string here, make it one."""
    spec = obj.get("spec")
    if isinstance(spec, dict) and spec.get("insecure") in ("true", "false"):
        spec["insecure"] = spec["insecure"] == "true"
    return obj


def mask(obj: dict[str, Any]) -> dict[str, Any]:
    """A Secret keeps its keys, and every value becomes MASK (as stringData, so it stays valid)."""
    if obj.get("kind") != "Secret" or obj.get("apiVersion") != "v1":
        return obj
    masked = {k: v for k, v in obj.items() if k not in ("data", "stringData")}
    keys = sorted({*(obj.get("data") or {}), *(obj.get("stringData") or {})})
    masked["stringData"] = dict.fromkeys(keys, MASK)
    return masked


def as_yaml(objects: list[dict[str, Any]]) -> str:
    return yamlfile.dump(objects)
