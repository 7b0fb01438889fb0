"""The move itself: phases, resumption and verification (see the package docstring for the design)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cluster_init.errors import Problem
from cluster_init.kube import ApiError, Client, Resource
from cluster_init.pivot import discovery, preflight, transfer
from cluster_init.pivot.graph import JSON, Graph, GroupKind, MoveType, Node, Plan, describe, storage_version
from cluster_init.pivot.names import BLOCK_MOVE, CAPI_GROUP, DELETE_FOR_MOVE, PAUSED_BY_PIVOT, SOURCE_UID
from cluster_init.pivot.schedule import in_order, run_all
from cluster_init.pivot.verify import differences

Key = tuple[str, str, str, str]  # group, kind, namespace, name


class Refused(Exception):
    """A precondition does not hold: nothing was changed (or the half-done move is left to be resumed)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class Failed(Exception):
    """The move could not finish (the message says where); running it again resumes it."""


@dataclass(frozen=True)
class Step:
    """Progress of a phase: `done` of `total` units (objects, mostly); `ref` the object just handled."""

    phase: str
    done: int = 0
    total: int = 0
    ref: str = ""


Observer = Callable[[Step], None]
# Called with the plan and the target state (source uid -> "new" | "copied" | "exists") before a move copies.
BeforeCopy = Callable[[Plan, Mapping[str, str]], Awaitable[None]]

# Phases, in order, as reported to the observer. A move goes through all of them (a dry run through the first
# two, a backup through discover..unblock then write and unpause, a restore through create..check).
PHASES = ("discover", "preflight", "pause", "unblock", "namespaces", "create", "verify", "delete", "unpause",
          "check")


@dataclass
class Options:
    namespace: str | None = None
    dry_run: bool = False
    block_move_timeout: float = 300.0  # how long to wait for block-move annotations to go
    copy_status: bool = False  # write statuses too (clusterctl does not: the controllers rebuild them)
    poll_interval: float = 1.0


@dataclass
class Report:
    """What a run did (or, dry run, would do)."""

    plan: Plan
    dry_run: bool = False
    problems: list[Problem] = field(default_factory=list)
    waits: list[str] = field(default_factory=list)  # dry run: objects whose block-move annotation it would wait for
    target_state: dict[str, str] = field(default_factory=dict)  # source uid -> "new" | "copied" | "exists"
    paused: int = 0
    created: int = 0
    resumed: int = 0
    deleted: int = 0
    unpaused: int = 0
    repaired: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)


class Engine:
    """One run of move, backup or restore. `source` is a live cluster, or None with `objects` (restore)."""

    def __init__(self, source: Client | None, target: Client | None, options: Options | None = None,
                 observer: Observer | None = None, *, objects: list[JSON] | None = None) -> None:
        self.source, self.target = source, target
        self.options = options or Options()
        self.observer = observer
        self.objects = objects
        self.types: dict[GroupKind, MoveType] = {}
        self.target_res: dict[tuple[str, str, str], Resource] = {}  # (group, kind, version) -> served resource
        self.owner_uids: dict[str, str] = {}  # source uid -> uid of its copy in the target
        self._t0 = time.monotonic()
        self._timings: dict[str, float] = {}
        self._paused_here: set[str] = set()  # source uids this run paused
        self._unmovable: list[Problem] = []  # objects of unlabelled Cluster API kinds (refused)

    # -- plumbing -----------------------------------------------------------------------------------------

    def step(self, phase: str, done: int = 0, total: int = 0, ref: str = "") -> None:
        if self.observer is not None:
            self.observer(Step(phase, done, total, ref))

    def _lap(self, phase: str) -> None:
        now = time.monotonic()
        self._timings[phase] = self._timings.get(phase, 0.0) + now - self._t0
        self._t0 = now

    async def resolve(self, group: str, kind: str, version: str) -> Resource:
        """The target's resource for a kind at a version (API discovery, cached); ApiError 404 when not served."""
        assert self.target is not None
        key = (group, kind, version)
        if key not in self.target_res:
            self.target_res[key] = await self.target.resource(f"{group}/{version}" if group else version, kind)
        return self.target_res[key]

    def res_of(self, node: Node) -> Resource:
        """The target resource of a planned object (resolved by the preflight)."""
        return self.target_res[(node.group, node.kind, version_of(node))]

    def source_res(self, node: Node) -> Resource:
        mtype = self.types.get(node.group_kind)
        if mtype is None:
            raise Failed(f"{node.ref}: its kind is not a move type")
        return mtype.resource

    async def _discover(self) -> tuple[Graph, Plan]:
        if self.source is None:
            graph = Graph(self.types)
            for obj in self.objects or []:
                graph.add(obj)
            graph.complete(None)
        else:
            snapshot = await discovery.read(self.source, self.types, self.options.namespace)
            graph = discovery.build_graph(self.types, snapshot, self.options.namespace)
        plan = graph.plan()
        self.step("discover", len(plan.nodes), len(plan.nodes))
        return graph, plan

    async def _read_target(self, kinds: Iterable[tuple[str, str, str]], namespaces: Iterable[str]) -> dict[Key, JSON]:
        """Target objects of `kinds` (group, kind, version) in `namespaces` (all namespaces when many)."""
        assert self.target is not None
        spaces = sorted(set(namespaces))
        jobs = []
        for group, kind, version in sorted(set(kinds)):
            try:
                res = await self.resolve(group, kind, version)
            except ApiError as e:
                if e.not_found:
                    continue  # not served: nothing of it in the target (the preflight says so)
                raise
            if not res.namespaced or self.options.namespace is None or len(spaces) > 4:
                jobs.append(self.target.list(res))
            else:
                jobs += [self.target.list(res, ns) for ns in spaces]
        found: dict[Key, JSON] = {}
        for items in await run_all(jobs):
            for obj in items:
                meta = obj["metadata"]
                key = (obj["apiVersion"].rpartition("/")[0], obj["kind"], meta.get("namespace", ""), meta["name"])
                found[key] = obj
        return found

    async def _read_copies(self, plan: Plan) -> dict[Key, JSON]:
        kinds = [(n.group, n.kind, n.api_version.rpartition("/")[2]) for n in plan.nodes]
        return await self._read_target(kinds, plan.namespaces)

    # -- checks -------------------------------------------------------------------------------------------

    def _classify(self, plan: Plan, copies: Mapping[Key, JSON]) -> tuple[dict[str, str], list[Problem]]:
        """For each object: is it still to be created, already copied by this move, or (global objects) already
        in the target; and the objects whose name the target already uses for something else."""
        state: dict[str, str] = {}
        problems = []
        for node in plan.nodes:
            existing = copies.get(node.key)
            if existing is None:
                state[node.uid] = "new"
            elif transfer.source_uid(existing) == node.uid:
                state[node.uid] = "copied"
                self.owner_uids[node.uid] = existing["metadata"]["uid"]
            elif node.is_global or node.is_global_hierarchy:
                state[node.uid] = "exists"
                self.owner_uids[node.uid] = existing["metadata"]["uid"]
            else:
                problems.append(preflight.taken(node, existing, self.target.server if self.target else "?"))
        return state, problems

    async def _problems(self, plan: Plan, state_problems: list[Problem]) -> list[Problem]:
        problems = self._unmovable + await self._contract()
        if self.target is not None:
            problems += await self._unserved(plan)
        pending = [n for n in plan.nodes if DELETE_FOR_MOVE not in n.annotations]
        if self.source is not None:
            problems += preflight.unprovisioned(pending)
            problems += preflight.paused_by_others(pending)
        problems += preflight.being_deleted(plan.nodes)
        return problems + state_problems

    async def _contract(self) -> list[Problem]:
        """Both clusters must store Clusters at the contract the move reads (the source's from its move types,
        the target's from its Cluster CRD)."""
        problems: list[Problem] = []
        if self.source is not None and (cluster := self.types.get((CAPI_GROUP, "Cluster"))) is not None:
            problems += preflight.contract(cluster.version, f"source {self.source.server}")
        if self.target is not None:
            try:
                crd = await self.target.get(discovery.CRD, f"clusters.{CAPI_GROUP}")
            except ApiError as e:
                if not e.not_found:
                    raise
            else:
                stored = storage_version(crd)
                problems += preflight.contract(stored["name"] if stored else "no version",
                                               f"target {self.target.server}")
        return problems

    async def _unserved(self, plan: Plan) -> list[Problem]:
        """Every kind to move must be served by the target at its version; for those that are not, the target's
        CRD (if any) says why."""
        assert self.target is not None
        needed = sorted({(n.group, n.kind, version_of(n)) for n in plan.nodes})

        async def served(key: tuple[str, str, str]) -> bool:
            try:
                await self.resolve(*key)
            except ApiError as e:
                if e.not_found:
                    return False
                raise
            return True

        flags = await run_all(served(k) for k in needed)
        missing = [k for k, ok in zip(needed, flags, strict=True) if not ok]
        crds: dict[GroupKind, Mapping[str, Any]] = {}
        for group, kind, _version in missing:
            mtype = self.types.get((group, kind))
            plural = mtype.plural if mtype else f"{kind.lower()}s"
            try:
                crds[(group, kind)] = await self.target.get(discovery.CRD, f"{plural}.{group}")
            except ApiError as e:
                if not e.not_found:
                    raise
        return preflight.missing_types(
            [(g, k, v, t.provider if (t := self.types.get((g, k))) else "") for g, k, v in missing], crds,
            self.target.server)

    # -- pause --------------------------------------------------------------------------------------------

    async def _pause(self, nodes: list[Node], *, paused: bool, client: Client, phase: str) -> int:
        done = 0

        async def one(node: Node) -> None:
            nonlocal done
            res = self.source_res(node) if client is self.source else self.res_of(node)
            try:
                await transfer.set_paused(client, res, node.namespace, node.name, cluster=transfer.is_cluster(node),
                                          paused=paused, current=node.obj if client is self.target else None)
            except ApiError as e:
                if not e.not_found:
                    raise
            done += 1
            self.step(phase, done, len(nodes), node.ref)

        await run_all(one(n) for n in nodes)
        return done

    async def _wait_unblocked(self, blocked: list[Node]) -> None:
        assert self.source is not None
        deadline = time.monotonic() + self.options.block_move_timeout
        pending = blocked
        while True:
            async def still_blocked(node: Node) -> bool:
                assert self.source is not None
                try:
                    obj = await self.source.get(self.source_res(node), node.name, node.namespace or None)
                except ApiError as e:
                    if e.not_found:
                        return False
                    raise
                return BLOCK_MOVE in ((obj.get("metadata") or {}).get("annotations") or {})

            flags = await run_all(still_blocked(n) for n in pending)
            pending = [n for n, flag in zip(pending, flags, strict=True) if flag]
            self.step("unblock", len(blocked) - len(pending), len(blocked))
            if not pending:
                return
            if time.monotonic() > deadline:
                raise Refused([Problem(n.ref, f"metadata.annotations[{BLOCK_MOVE}]",
                                       f"still blocks the move after {self.options.block_move_timeout:.0f}s",
                                       "the provider that set it is not ready to move: check its controller (or "
                                       "remove the annotation if nothing will), then run the pivot again")
                               for n in pending])
            await asyncio.sleep(self.options.poll_interval)

    async def _release_source(self, plan: Plan, state: Mapping[str, str]) -> None:
        """After a refusal: when nothing of this move is in the target yet, unpause what it paused in the source."""
        if self.source is None or any(s == "copied" for s in state.values()):
            return
        ours = [n for n in plan.clusters + plan.cluster_classes
                if n.uid in self._paused_here or (n.obj is not None and transfer.paused_by_us(n.obj))]
        await self._pause(ours, paused=False, client=self.source, phase="unpause")

    async def _settle(self) -> tuple[Plan, dict[str, str], Report]:
        """Discover, check, pause and wait for block-move annotations until a re-read finds everything paused
        and unblocked: that snapshot is what gets copied."""
        report = Report(Plan([], []), dry_run=self.options.dry_run)
        for _round in range(6):
            _graph, plan = await self._discover()
            copies = await self._read_copies(plan) if self.target is not None else {}
            state, taken = self._classify(plan, copies)
            report.plan, report.target_state = plan, state
            problems = await self._problems(plan, taken)
            blocked = [n for n in plan.nodes if BLOCK_MOVE in n.annotations]
            to_pause = [n for n in plan.clusters + plan.cluster_classes
                        if n.obj is not None and not transfer.is_paused(n.obj, transfer.is_cluster(n))]
            self.step("preflight", len(problems), len(problems))
            self._lap("discover")
            if self.options.dry_run:
                report.problems = problems
                report.waits = [n.ref for n in blocked]
                return plan, state, report
            if problems:
                await self._release_source(plan, state)
                raise Refused(problems)
            if not to_pause and not blocked:
                self.step("pause", len(plan.clusters), len(plan.clusters))
                return plan, state, report
            if self.source is None:
                return plan, state, report
            report.paused += await self._pause(to_pause, paused=True, client=self.source, phase="pause")
            self._paused_here.update(n.uid for n in to_pause)
            self._lap("pause")
            if blocked:
                try:
                    await self._wait_unblocked(blocked)
                except Refused:
                    await self._release_source(plan, state)
                    raise
                self._lap("unblock")
        raise Failed("the source keeps changing while the move pauses it (new Clusters or block-move annotations "
                     "keep appearing); stop what creates them and run the pivot again")

    # -- copy ---------------------------------------------------------------------------------------------

    async def _ensure_namespaces(self, plan: Plan) -> None:
        assert self.target is not None
        from cluster_init.pivot.graph import NAMESPACE

        names = plan.namespaces

        async def one(name: str) -> None:
            assert self.target is not None
            try:
                await self.target.create(NAMESPACE, {"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": {"name": name}}, field_manager=transfer.FIELD_MANAGER)
            except ApiError as e:
                if not e.already_exists:
                    raise

        await run_all(one(n) for n in names)
        self.step("namespaces", len(names), len(names))

    async def _create_all(self, plan: Plan, state: dict[str, str], copies: Mapping[Key, JSON], report: Report) -> None:
        assert self.target is not None
        nodes = {n.uid: n for n in plan.nodes}
        total, done = len(nodes), 0
        # A Cluster's status is written once everything is copied: Cluster API connects to a Cluster marked
        # provisioned at once, and when its kubeconfig Secret (copied after it) is missing, tries again 30 s later.
        last: dict[str, JSON] = {}

        async def one(uid: str) -> None:
            nonlocal done
            assert self.target is not None
            node = nodes[uid]
            res = self.res_of(node)
            if state[uid] == "copied":
                if DELETE_FOR_MOVE not in node.annotations:  # else: finished and verified before deletion began
                    await self._finish_copy(res, node, copies[node.key], last)
                report.resumed += 1
            elif state[uid] == "new":
                try:
                    created = await transfer.create_copy(self.target, res, node, self.owner_uids)
                except transfer.NotOurs as e:
                    if not (node.is_global or node.is_global_hierarchy):
                        raise Refused([preflight.taken(node, e.existing, self.target.server)]) from None
                    state[uid] = "exists"
                    self.owner_uids[uid] = e.existing["metadata"]["uid"]
                else:
                    self.owner_uids[uid] = created["metadata"]["uid"]
                    state[uid] = "copied"
                    await self._finish_copy(res, node, created, last)
                    report.created += 1
            done += 1
            self.step("create", done, total, node.ref)

        after = {uid: [*n.owners, *n.soft_owners] for uid, n in nodes.items()}
        await in_order(list(nodes), after, one)
        await run_all(self._finish_copy(self.res_of(nodes[uid]), nodes[uid], current) for uid, current in last.items())

    async def _finish_copy(self, res: Resource, node: Node, current: JSON,
                           later: dict[str, JSON] | None = None) -> None:
        """Write the copy's status and field managers, or, for a Cluster while `later` collects them, leave that
        for when everything is copied."""
        assert self.target is not None
        if later is not None and node.group == CAPI_GROUP and node.kind == "Cluster":
            later[node.uid] = current
            return
        await transfer.finish_copy(self.target, res, node, current, copy_status=self.options.copy_status)

    async def _verify(self, plan: Plan, state: Mapping[str, str], report: Report) -> None:
        """Compare every source object with its copy; repair what differs (the source is the authority until it
        is deleted) and fail when a difference stays."""
        assert self.target is not None
        todo = [n for n in plan.nodes if state.get(n.uid) == "copied" and DELETE_FOR_MOVE not in n.annotations]
        copies = await self._read_copies(plan)
        diffs = self._differences(todo, copies)
        if diffs:
            report.repaired += len(diffs)
            await run_all(self._repair(n, copies.get(n.key)) for n in diffs)
            fresh = await self._read_copies(plan)
            left = self._differences(list(diffs), fresh)
            if left:
                lines = [f"{n.ref}: {', '.join(left[n][:6])}" for n in list(left)[:10]]
                raise Failed("the copies in the target differ from the source after a repair; nothing was deleted "
                             "from the source:\n  " + "\n  ".join(lines))
        self.step("verify", len(todo), len(todo))

    def _differences(self, nodes: list[Node], copies: Mapping[Key, JSON]) -> dict[Node, list[str]]:
        out = {}
        for node in nodes:
            copy = copies.get(node.key)
            if copy is None or transfer.source_uid(copy) != node.uid:
                out[node] = ["(no copy in the target)"]
            elif diffs := differences(node.obj or {}, copy, self.owner_uids,
                                      with_status=self.options.copy_status or not self.res_of(node).has_status):
                out[node] = diffs
        return out

    async def _repair(self, node: Node, copy: JSON | None) -> None:
        assert self.target is not None
        res = self.res_of(node)
        if copy is None or transfer.source_uid(copy) != node.uid:
            created = await transfer.create_copy(self.target, res, node, self.owner_uids)
            self.owner_uids[node.uid] = created["metadata"]["uid"]
            await self._finish_copy(res, node, created)
            return
        body = transfer.copy_body(node, self.owner_uids, with_status=not res.has_status)
        body["metadata"]["resourceVersion"] = copy["metadata"]["resourceVersion"]
        body["metadata"]["uid"] = copy["metadata"]["uid"]
        updated = await self.target.update(res, body, field_manager=transfer.FIELD_MANAGER)
        await self._finish_copy(res, node, updated)

    # -- delete and unpause -------------------------------------------------------------------------------

    async def _delete_all(self, plan: Plan, report: Report) -> None:
        assert self.source is not None
        nodes = {n.uid: n for n in plan.nodes if n.deletes}
        total, done = len(nodes), 0

        async def one(uid: str) -> None:
            nonlocal done
            assert self.source is not None
            node = nodes[uid]
            await transfer.delete_source(self.source, self.source_res(node), node)
            report.deleted += 1
            done += 1
            self.step("delete", done, total, node.ref)

        after = {uid: [d for d in n.dependents if d in nodes] for uid, n in nodes.items()}
        await in_order(list(nodes), after, one)

    async def _paused_copies(self, plan: Plan) -> list[JSON]:
        """Clusters and ClusterClasses in the target that this move (or an interrupted run of it) left paused."""
        assert self.target is not None
        kinds = [(CAPI_GROUP, k, self.types[(CAPI_GROUP, k)].version) for k in ("Cluster", "ClusterClass")
                 if (CAPI_GROUP, k) in self.types]
        spaces = {*plan.namespaces, *([self.options.namespace] if self.options.namespace else [])}
        found = await self._read_target(kinds, spaces)
        return [o for o in found.values() if transfer.source_uid(o) and transfer.paused_by_us(o)]

    async def _unpause(self, plan: Plan, report: Report) -> None:
        """Unpause the copies this move paused (their sources are deleted by now, or stay in the source for good:
        shared ClusterClasses, global objects), and what the move paused in the source and does not delete."""
        assert self.target is not None
        targets = []
        for obj in await self._paused_copies(plan):
            meta = obj["metadata"]
            targets.append(Node(meta["uid"], obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"],
                                obj))
        report.unpaused += await self._pause(targets, paused=False, client=self.target, phase="unpause")
        if self.source is not None:
            kept = [n for n in plan.clusters + plan.cluster_classes
                    if not n.deletes and n.obj is not None and transfer.paused_by_us(n.obj)]
            await self._pause(kept, paused=False, client=self.source, phase="unpause")

    async def _final_check(self, plan: Plan, state: Mapping[str, str]) -> None:
        """After the move: nothing deletable left in the source, every object has its copy with owner references
        pointing at copies, and no copy left paused."""
        problems: list[str] = []
        if self.source is not None:
            snapshot = await discovery.read(self.source, self.types, self.options.namespace)
            left = {o["metadata"]["uid"] for o in snapshot.objects}
            problems += [f"{n.ref}: still in the source" for n in plan.nodes if n.deletes and n.uid in left]
        copies = await self._read_copies(plan)
        uids = {o["metadata"]["uid"] for o in copies.values()}
        for node in plan.nodes:
            copy = copies.get(node.key)
            if copy is None:
                problems.append(f"{node.ref}: missing in the target")
                continue
            if state.get(node.uid) == "exists":
                continue
            if transfer.source_uid(copy) != node.uid:
                problems.append(f"{node.ref}: the target object is not the copy of the source one")
            for ref in copy["metadata"].get("ownerReferences") or []:
                if ref["uid"] not in uids:
                    problems.append(f"{node.ref}: owner reference to {ref['kind']} {ref['name']} points at no copy")
            if PAUSED_BY_PIVOT in (copy["metadata"].get("annotations") or {}):
                problems.append(f"{node.ref}: still paused in the target")
        if problems:
            raise Failed("verification after the move failed:\n  " + "\n  ".join(problems[:20]) +
                         (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""))
        self.step("check", len(plan.nodes), len(plan.nodes))

    # -- the three commands -------------------------------------------------------------------------------

    async def _types(self) -> None:
        if self.source is not None:
            self.types = await discovery.move_types(self.source)
            self._unmovable = await discovery.unmovable(self.source, self.types, self.options.namespace)
        else:
            assert self.target is not None
            self.types = await discovery.move_types(self.target)

    async def move(self, before_copy: BeforeCopy | None = None) -> Report:
        """Move (or with dry_run, plan the move of) the source's Cluster API objects to the target. `before_copy`
        runs once everything is paused and checked, before the first write to the target (a backup of the
        snapshot that is copied); a Refused from it unpauses the source when nothing was copied yet."""
        assert self.source is not None and self.target is not None
        return await self._transfer(delete_source=True, before_copy=before_copy)

    async def _copy(self, plan: Plan, state: dict[str, str], report: Report) -> None:
        copies = await self._read_copies(plan) if any(s == "copied" for s in state.values()) else {}
        await self._ensure_namespaces(plan)
        await self._create_all(plan, state, copies, report)
        self._lap("create")
        await self._verify(plan, state, report)
        self._lap("verify")

    async def restore(self) -> Report:
        """Create the objects read from files in the target (resumable), verify, unpause."""
        assert self.target is not None and self.objects is not None
        return await self._transfer(delete_source=False)

    async def _transfer(self, *, delete_source: bool, before_copy: BeforeCopy | None = None) -> Report:
        """A move (`delete_source`) or a restore: settle, copy, delete from the source, hand over."""
        await self._types()
        plan, state, report = await self._settle()
        if self.options.dry_run:
            return self._finish(report)
        if before_copy is not None:
            try:
                await before_copy(plan, state)
            except Refused:
                await self._release_source(plan, state)
                raise
            self._lap("backup")
        await self._copy(plan, state, report)
        if delete_source:
            await self._delete_all(plan, report)
            self._lap("delete")
        return await self._hand_over(plan, state, report)

    async def _hand_over(self, plan: Plan, state: dict[str, str], report: Report) -> Report:
        """Last steps of a move and of a restore: unpause in the target, then check it."""
        await self._unpause(plan, report)
        self._lap("unpause")
        await self._final_check(plan, state)
        self._lap("check")
        return self._finish(report)

    async def backup(self, write: Callable[[Plan], None]) -> Report:
        """Pause, snapshot the objects to move, hand them to `write`, unpause: the source is left as it was."""
        assert self.source is not None
        await self._types()
        plan, _state, report = await self._settle()
        if not self.options.dry_run:
            write(plan)
            self._lap("write")
            ours = [n for n in plan.clusters + plan.cluster_classes
                    if n.obj is not None and transfer.paused_by_us(n.obj)]
            report.unpaused = await self._pause(ours, paused=False, client=self.source, phase="unpause")
            self._lap("unpause")
        return self._finish(report)

    def _finish(self, report: Report) -> Report:
        report.timings = dict(self._timings)
        for name, client in (("source", self.source), ("target", self.target)):
            if client is not None:
                report.requests[name] = client.stats.total
        return report


def version_of(node: Node) -> str:
    return node.api_version.rpartition("/")[2]


def describe_node(node: Node) -> str:
    return describe(node.kind, node.namespace, node.name)


def source_uids(objects: Iterable[JSON]) -> dict[str, str]:
    return {u: o["metadata"]["uid"] for o in objects if (u := (o["metadata"].get("annotations") or {}).get(SOURCE_UID))}
