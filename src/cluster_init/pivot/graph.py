"""The object graph of a move: which objects move, how they are linked, and in which order.

Semantics (the Cluster API move contract):

- Types: every CRD labelled `clusterctl.cluster.x-k8s.io` (at its storage version), plus Secret and
  ConfigMap. A CRD labelled `.../move` is force-moved (all its objects move); `.../move-hierarchy` is
  force-moved with everything it owns. Cluster, ClusterClass and ClusterResourceSet are always
  move-hierarchy roots. The same two labels on an object force-move that object.
- Links: owner references (hard), plus soft ownership: a Secret without owner references named
  `<cluster>-<purpose>` belongs to that Cluster (the name is matched against each purpose suffix in turn, so
  `<cluster>-apiserver-etcd-client` counts); a Cluster using a ClusterClass (v1beta2 `spec.topology.classRef`)
  belongs to it; a ClusterResourceSetBinding belongs to the Cluster named in `spec.clusterName`.
- Tenants: an object moves when it is reachable from a move-hierarchy root through those links, or is
  force-moved. Cluster-scoped objects (and everything under a cluster-scoped root) are global: they are
  created in the target when missing and are never deleted from the source.
- Order: an object moves after all its owners (hard and soft). An object with an owner that does not
  move stays where it is (reported as skipped).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cluster_init.kube import Resource
from cluster_init.pivot.names import (
    ADDONS_GROUP,
    CAPI_GROUP,
    MOVE_HIERARCHY_LABEL,
    MOVE_LABEL,
    SECRET_PURPOSES,
)

JSON = dict[str, Any]
GroupKind = tuple[str, str]


@dataclass(frozen=True)
class MoveType(Resource):
    """A kind the move considers: its served resource, at the version it is listed and created in, and how the
    move treats it (from its CRD's labels)."""

    force_move: bool = False
    force_move_hierarchy: bool = False
    provider: str = ""  # the CRD's cluster.x-k8s.io/provider label, for messages

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    @property
    def resource(self) -> Resource:
        return Resource(self.api_version, self.kind, self.plural, self.namespaced, self.has_status)


SECRET = MoveType("v1", "Secret", "secrets", True, False)
CONFIGMAP = MoveType("v1", "ConfigMap", "configmaps", True, False)
NAMESPACE = Resource("v1", "Namespace", "namespaces", False, True)

ALWAYS_HIERARCHY = {(CAPI_GROUP, "Cluster"), (CAPI_GROUP, "ClusterClass"), (ADDONS_GROUP, "ClusterResourceSet")}


def storage_version(crd: Mapping[str, Any]) -> JSON | None:
    return next((v for v in crd["spec"].get("versions") or [] if v.get("storage")), None)


def types_from_crds(crds: Iterable[Mapping[str, Any]]) -> dict[GroupKind, MoveType]:
    """The move types from the (already label-filtered) CRDs, plus Secret and ConfigMap."""
    types: dict[GroupKind, MoveType] = {}
    for crd in crds:
        spec, labels = crd["spec"], crd["metadata"].get("labels") or {}
        version = storage_version(crd)
        if version is None:
            continue
        key = (spec["group"], spec["names"]["kind"])
        hierarchy = key in ALWAYS_HIERARCHY or MOVE_HIERARCHY_LABEL in labels
        types[key] = MoveType(
            f"{spec['group']}/{version['name']}", spec["names"]["kind"], spec["names"]["plural"],
            spec.get("scope") == "Namespaced", "status" in (version.get("subresources") or {}),
            force_move=hierarchy or MOVE_LABEL in labels, force_move_hierarchy=hierarchy,
            provider=labels.get("cluster.x-k8s.io/provider", ""))
    for core in (SECRET, CONFIGMAP):
        types[(core.group, core.kind)] = core
    return types


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def describe(kind: str, namespace: str, name: str) -> str:
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


@dataclass(eq=False)
class Node:
    """One object of the source (or a placeholder for an owner that was not listed: `obj` is None)."""

    uid: str
    api_version: str
    kind: str
    namespace: str
    name: str
    obj: JSON | None = None
    owners: dict[str, JSON] = field(default_factory=dict)  # owner uid -> the owner reference (source order)
    soft_owners: set[str] = field(default_factory=set)
    dependents: set[str] = field(default_factory=set)  # uids that own-or-soft-own... reversed: owned by this
    force_move: bool = False
    force_move_hierarchy: bool = False
    is_global: bool = False
    is_global_hierarchy: bool = False
    should_not_delete: bool = False
    tenants: set[str] = field(default_factory=set)

    @property
    def group(self) -> str:
        return group_of(self.api_version)

    @property
    def group_kind(self) -> GroupKind:
        return (self.group, self.kind)

    @property
    def virtual(self) -> bool:
        return self.obj is None

    @property
    def ref(self) -> str:
        return describe(self.kind, self.namespace, self.name)

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity across clusters: group, kind, namespace, name."""
        return (self.group, self.kind, self.namespace, self.name)

    @property
    def deletes(self) -> bool:
        """Whether the move deletes this object from the source (global objects and shared ClusterClasses stay)."""
        return not (self.is_global or self.is_global_hierarchy or self.should_not_delete)

    @property
    def annotations(self) -> dict[str, str]:
        return dict(((self.obj or {}).get("metadata") or {}).get("annotations") or {})

    @property
    def finalizers(self) -> list[str]:
        return list(((self.obj or {}).get("metadata") or {}).get("finalizers") or [])

    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.kind, self.namespace, self.name, self.group)


@dataclass
class Plan:
    """The objects to move, in levels: every object's owners are on earlier levels."""

    levels: list[list[Node]]
    skipped: list[Node]  # would move, but an owner does not: stays in the source (as with clusterctl)

    @property
    def nodes(self) -> list[Node]:
        return [n for level in self.levels for n in level]

    def of_kind(self, group: str, kind: str) -> list[Node]:
        return [n for n in self.nodes if n.group == group and n.kind == kind]

    @property
    def clusters(self) -> list[Node]:
        return self.of_kind(CAPI_GROUP, "Cluster")

    @property
    def cluster_classes(self) -> list[Node]:
        return self.of_kind(CAPI_GROUP, "ClusterClass")

    @property
    def namespaces(self) -> list[str]:
        return sorted({n.namespace for n in self.nodes if n.namespace})


class Graph:
    """Objects by UID, linked by hard and soft ownership."""

    def __init__(self, types: Mapping[GroupKind, MoveType]) -> None:
        self.types = dict(types)
        self.nodes: dict[str, Node] = {}

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes.values())

    def add(self, obj: JSON) -> Node:
        """Add an object (idempotent by UID); owners not seen yet get a placeholder node."""
        meta = obj["metadata"]
        uid = meta["uid"]
        node = self.nodes.get(uid)
        if node is None:
            node = self.nodes[uid] = Node(uid, obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])
        node.obj, node.namespace = obj, meta.get("namespace", "")
        node.api_version, node.kind = obj["apiVersion"], obj["kind"]
        labels = meta.get("labels") or {}
        mtype = self.types.get(node.group_kind)
        node.force_move_hierarchy = MOVE_HIERARCHY_LABEL in labels or bool(mtype and mtype.force_move_hierarchy)
        node.force_move = node.force_move_hierarchy or MOVE_LABEL in labels or bool(mtype and mtype.force_move)
        node.is_global = bool(mtype and not mtype.namespaced)
        for ref in meta.get("ownerReferences") or []:
            owner = self.nodes.get(ref["uid"])
            if owner is None:
                owner = self.nodes[ref["uid"]] = Node(ref["uid"], ref["apiVersion"], ref["kind"], "", ref["name"])
            node.owners[ref["uid"]] = ref
            owner.dependents.add(uid)
        return node

    def _soft_own(self, owner: Node, owned: Node) -> None:
        owned.soft_owners.add(owner.uid)
        owner.dependents.add(owned.uid)

    def of_kind(self, group: str, kind: str) -> list[Node]:
        return [n for n in self.nodes.values() if not n.virtual and n.group == group and n.kind == kind]

    def complete(self, namespace: str | None = None, other_clusters: Iterable[JSON] = ()) -> None:
        """Add soft ownership, tenants and the should-not-delete marks. `other_clusters`: Clusters outside
        `namespace` (when moving one namespace), whose ClusterClasses in the namespace must stay."""
        clusters = {(n.namespace, n.name): n for n in self.of_kind(CAPI_GROUP, "Cluster")}
        for secret in self.of_kind("", "Secret"):
            if secret.owners:
                continue
            cluster_name = secret_cluster_name(secret.name)
            if cluster_name is not None and (secret.namespace, cluster_name) in clusters:
                self._soft_own(clusters[(secret.namespace, cluster_name)], secret)
        classes = {(n.namespace, n.name): n for n in self.of_kind(CAPI_GROUP, "ClusterClass")}
        for cluster in clusters.values():
            used = class_key(cluster.obj or {})
            if used is not None and used in classes:
                self._soft_own(classes[used], cluster)
        for binding in self.of_kind(ADDONS_GROUP, "ClusterResourceSetBinding"):
            bound = str(((binding.obj or {}).get("spec") or {}).get("clusterName") or "")
            if bound and (binding.namespace, bound) in clusters:
                self._soft_own(clusters[(binding.namespace, bound)], binding)
        for root in list(self.nodes.values()):
            if root.force_move_hierarchy and not root.virtual:
                self._spread_tenant(root)
        if namespace:
            for cls in classes.values():
                if cls.namespace != namespace:
                    self._keep(cls)
            for other in other_clusters:
                key = class_key(other)
                if other["metadata"].get("namespace") != namespace and key in classes and key[0] == namespace:
                    self._keep(classes[key])

    def _spread_tenant(self, root: Node) -> None:
        stack, seen = [root], {root.uid}
        while stack:
            node = stack.pop()
            node.tenants.add(root.uid)
            node.is_global_hierarchy = node.is_global_hierarchy or root.is_global
            for uid in node.dependents:
                if uid not in seen:
                    seen.add(uid)
                    stack.append(self.nodes[uid])

    def _keep(self, node: Node) -> None:
        """Mark `node` and what it owns (hard owner references) as not to be deleted from the source."""
        stack = [node]
        while stack:
            n = stack.pop()
            if n.should_not_delete:
                continue
            n.should_not_delete = True
            stack += [d for uid in n.dependents if uid in self.nodes and n.uid in (d := self.nodes[uid]).owners]

    def plan(self) -> Plan:
        """Levels of the objects to move (owners first); objects whose owners do not all move are skipped."""
        candidates = {n.uid: n for n in self.nodes.values() if not n.virtual and (n.tenants or n.force_move)}
        placed: set[str] = set()
        levels: list[list[Node]] = []
        remaining = dict(candidates)
        while remaining:
            level = [n for n in remaining.values() if all(o in placed for o in (*n.owners, *n.soft_owners))]
            if not level:
                break
            level.sort(key=Node.sort_key)
            levels.append(level)
            for n in level:
                placed.add(n.uid)
                del remaining[n.uid]
        return Plan(levels, sorted(remaining.values(), key=Node.sort_key))


def secret_cluster_name(name: str) -> str | None:
    """The cluster a Secret named `<cluster>-<purpose>` belongs to: the first purpose (in `SECRET_PURPOSES` order)
    the name ends with decides; None when it ends with none of them."""
    for purpose in SECRET_PURPOSES:
        if name.endswith(f"-{purpose}"):
            return name[: -len(purpose) - 1]
    return None


def class_key(cluster: Mapping[str, Any]) -> tuple[str, str] | None:
    """(namespace, name) of the ClusterClass a (v1beta2) Cluster uses, if any: `spec.topology.classRef`, its
    namespace defaulting to the Cluster's."""
    topology = (cluster.get("spec") or {}).get("topology") or {}
    ref = topology.get("classRef") or {}
    if not topology or not ref.get("name"):
        return None
    return (ref.get("namespace") or cluster["metadata"].get("namespace", ""), str(ref["name"]))
