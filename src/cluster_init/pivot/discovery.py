"""Reading a cluster: the move types from its CRDs, and its objects of those types, into a `Graph`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cluster_init.errors import Problem
from cluster_init.kube import ApiError, Client, Resource
from cluster_init.pivot.graph import JSON, Graph, GroupKind, MoveType, types_from_crds
from cluster_init.pivot.names import CAPI_GROUP, CLUSTERCTL_GROUP, CLUSTERCTL_LABEL, CRD_API, PROVIDER_LABEL

CRD = Resource(CRD_API, "CustomResourceDefinition", "customresourcedefinitions", False, True)
PROVIDER = Resource(f"{CLUSTERCTL_GROUP}/v1alpha3", "Provider", "providers", True, False)
DEPLOYMENT = Resource("apps/v1", "Deployment", "deployments", True, True)
LABEL_FIX = (f"label every CRD of the Cluster API providers `{CLUSTERCTL_LABEL}` (the bundle's upstream-defaults "
             "component does, through the Flux Kustomizations of the providers; `clusterctl init` does too), "
             "then run the pivot again")


async def crds(client: Client, label_selector: str | None = None) -> list[JSON]:
    return await client.list(CRD, label_selector=label_selector)


async def move_types(client: Client) -> dict[GroupKind, MoveType]:
    """The kinds a move considers in this cluster (CRDs labelled by a provider install, Secret, ConfigMap)."""
    return types_from_crds(await crds(client, CLUSTERCTL_LABEL))


async def unmovable(client: Client, types: Mapping[GroupKind, MoveType], namespace: str | None) -> list[Problem]:
    """What the move could not see: objects of Cluster API kinds whose CRDs lack the clusterctl label (a provider
    installed by hand or by an older bundle, without `clusterctl init`). Moving the rest would leave those behind,
    and with Cluster itself unlabelled the move would find nothing and succeed doing nothing: refuse instead."""
    unlabelled = await crds(client, f"{PROVIDER_LABEL},!{CLUSTERCTL_LABEL}")
    if (CAPI_GROUP, "Cluster") not in types:
        try:
            unlabelled.append(await client.get(CRD, f"clusters.{CAPI_GROUP}"))
        except ApiError as e:
            if not e.not_found:
                raise
    problems = []
    seen = set()
    for crd in unlabelled:
        spec = crd["spec"]
        key = (spec["group"], spec["names"]["kind"])
        if key in seen or key in types:
            continue
        seen.add(key)
        mtype = types_from_crds([crd])[key]
        ns = namespace if mtype.namespaced else None
        page = await client.request("GET", mtype.resource.path(ns), params={"limit": "1"})
        if page.get("items"):
            where = f"in namespace {namespace}" if ns else "in the source cluster"
            problems.append(Problem(f"CustomResourceDefinition {crd['metadata']['name']}", "metadata.labels",
                                    f"has no `{CLUSTERCTL_LABEL}` label, so the pivot cannot move its "
                                    f"{mtype.kind} objects {where} (and there is no clusterctl inventory to tell)",
                                    LABEL_FIX))
    return problems


async def list_type(client: Client, mtype: MoveType, namespace: str | None) -> list[JSON]:
    """Objects of one type (in `namespace` when it is namespaced); none when the type is not served."""
    try:
        return await client.list(mtype.resource, namespace if mtype.namespaced else None)
    except ApiError as e:
        if e.not_found:
            return []
        raise


@dataclass
class Snapshot:
    """What was read from a cluster: the objects by type, and extra objects the graph needs."""

    objects: list[JSON]
    other_clusters: list[JSON]  # Clusters outside the moved namespace (for shared ClusterClasses)


async def read(client: Client, types: Mapping[GroupKind, MoveType], namespace: str | None) -> Snapshot:
    """Every object of the move types (in `namespace`, or everywhere), concurrently, plus: Secrets in the
    namespaces of infrastructure providers (their identities' credentials), ClusterClasses in other
    namespaces used by Clusters in `namespace` with their templates, and all other Clusters."""
    ordered = sorted(types.values(), key=lambda t: (t.group, t.kind))
    main = asyncio.gather(*(list_type(client, t, namespace) for t in ordered))
    if not namespace:
        return Snapshot([o for items in await main for o in items], [])
    cluster_type = types.get((CAPI_GROUP, "Cluster"))
    lists, provider_secrets, all_clusters = await asyncio.gather(
        main, _provider_secrets(client, types, namespace),
        list_type(client, cluster_type, None) if cluster_type else _nothing())
    objects = [o for items in lists for o in items]
    seen = {o["metadata"]["uid"] for o in objects}
    extra = provider_secrets + await external_classes(client, types, objects, namespace)
    for obj in extra:
        if obj["metadata"]["uid"] not in seen:
            seen.add(obj["metadata"]["uid"])
            objects.append(obj)
    other_clusters = [c for c in all_clusters if c["metadata"].get("namespace") != namespace]
    return Snapshot(objects, other_clusters)


async def _nothing() -> list[JSON]:
    return []


async def _provider_secrets(client: Client, types: Mapping[GroupKind, MoveType], namespace: str) -> list[JSON]:
    """Secrets in the namespaces of the infrastructure providers (credentials of global identities)."""
    spaces = [ns for ns in await infrastructure_namespaces(client, types) if ns != namespace]
    lists = await asyncio.gather(*(list_type(client, types[("", "Secret")], ns) for ns in spaces))
    return [o for items in lists for o in items]


async def infrastructure_namespaces(client: Client, types: Mapping[GroupKind, MoveType]) -> list[str]:
    """Namespaces of the infrastructure providers: from the clusterctl inventory (Provider objects) when there is
    one, else from what a bundle install labels (the providers' Deployments, labelled `clusterctl.cluster.x-k8s.io`
    and `cluster.x-k8s.io/provider: infrastructure-<name>`, as the upstream manifests and our bundle label them)."""
    if (CLUSTERCTL_GROUP, "Provider") in types:
        providers = await list_type(client, types[(CLUSTERCTL_GROUP, "Provider")], None)
        if providers:
            return sorted({p["metadata"]["namespace"] for p in providers if p.get("type") == "InfrastructureProvider"})
    deployments = await client.list(DEPLOYMENT, label_selector=f"{CLUSTERCTL_LABEL},{PROVIDER_LABEL}")
    return sorted({d["metadata"]["namespace"] for d in deployments
                   if str(d["metadata"]["labels"].get(PROVIDER_LABEL, "")).startswith("infrastructure-")})


async def external_classes(client: Client, types: Mapping[GroupKind, MoveType], objects: Iterable[JSON],
                           namespace: str) -> list[JSON]:
    """ClusterClasses outside `namespace` used by its Clusters, with the templates they reference."""
    from cluster_init.pivot.graph import class_key

    wanted = sorted({key for o in objects if o["kind"] == "Cluster" and (key := class_key(o)) and key[0] != namespace})
    found: list[JSON] = []
    cc_type = types.get((CAPI_GROUP, "ClusterClass"))
    if cc_type is None:
        return found
    for cc_ns, cc_name in wanted:
        cc = await client.get(cc_type.resource, cc_name, cc_ns)
        cc.setdefault("apiVersion", cc_type.api_version)
        cc.setdefault("kind", "ClusterClass")
        found.append(cc)
        for ref in template_refs(cc):
            mtype = types.get((str(ref.get("apiVersion") or "").rpartition("/")[0], str(ref.get("kind") or "")))
            if mtype is None or not ref.get("name"):
                continue
            obj = await client.get(mtype.resource, ref["name"], cc_ns)
            obj.setdefault("apiVersion", mtype.api_version)
            obj.setdefault("kind", mtype.kind)
            found.append(obj)
    return found


def template_refs(cc: JSON) -> list[JSON]:
    """The template references ({apiVersion, kind, name}, in the ClusterClass's namespace) of a v1beta2
    ClusterClass: `templateRef` of its infrastructure, control plane, control-plane machine infrastructure and of
    each MachineDeployment and MachinePool class's bootstrap and infrastructure. A reference counts when any of
    its fields is set (as Cluster API's `IsDefined`)."""
    spec = cc.get("spec") or {}
    control_plane = spec.get("controlPlane") or {}
    holders = [spec.get("infrastructure"), control_plane, control_plane.get("machineInfrastructure")]
    workers = spec.get("workers") or {}
    for cls in (workers.get("machineDeployments") or []) + (workers.get("machinePools") or []):
        holders += [cls.get("infrastructure"), cls.get("bootstrap")]
    refs = [(holder or {}).get("templateRef") or {} for holder in holders]
    return [r for r in refs if r.get("apiVersion") or r.get("kind") or r.get("name")]


def build_graph(types: Mapping[GroupKind, MoveType], snapshot: Snapshot, namespace: str | None) -> Graph:
    graph = Graph(types)
    for obj in snapshot.objects:
        graph.add(obj)
    graph.complete(namespace, snapshot.other_clusters)
    return graph
