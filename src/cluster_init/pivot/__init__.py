"""The pivot: our own implementation of Cluster API's move (`clusterctl move`), resumable and concurrent.

Phases of a move (each reported to an observer as `Step`s, which is also where tests inject faults):

1. discover: the move types from the source's CRDs (the `clusterctl.cluster.x-k8s.io` labels), every object of
   those types, the ownership graph and the plan (`graph.py`, `discovery.py`); and which of those objects
   already have a copy in the target;
2. preflight: both clusters store Clusters at the v1beta2 contract, the target serves every kind to move, the
   Clusters are provisioned and their Machines have nodes (judged by their v1beta2 status, as `clusterctl move`
   of the pinned Cluster API judges it), no Cluster or ClusterClass is paused by someone else, nothing is being
   deleted, no object to move collides with a target object that is not its copy;
3. pause: Clusters (`spec.paused`) and ClusterClasses (`cluster.x-k8s.io/paused`) in the source, then wait,
   with a deadline, until no object carries `clusterctl.cluster.x-k8s.io/block-move`; then read everything
   again: that snapshot, taken with everything paused, is what is copied;
4. create: namespaces, then every object in the target once its owners exist there (owner-reference UIDs
   remapped to the copies), and its managedFields as in the source when a server-side apply manager owns part
   of it (so that later applies can still remove fields). Statuses are not copied, as clusterctl does not copy
   them: the providers' controllers rebuild them once the target unpauses. Only `status.initialization` is
   (Cluster API v1beta2's one-way marks of finished provisioning): Cluster API connects to a Cluster only once its
   infrastructure is marked provisioned, so with the mark the connection is made while the copy is still paused,
   instead of after the first reconcile that follows the unpause (the moved Cluster is Available 1-2 s
   sooner). A Cluster's status is written once every object is copied: connecting before its kubeconfig Secret is
   there, Cluster API would try again only 30 s later. `copy_status` writes whole statuses, for tools that read
   them before the controllers have run;
5. verify: every copy is compared with its source object; a difference is repaired (the source is the
   authority while it exists) and one that stays fails the move before anything is deleted;
6. delete: each source object after everything it owns, with a UID precondition; objects with finalizers get
   `delete-for-move` first and lose their finalizers once their deletion has begun, when no controller can put
   one back (global objects and shared ClusterClasses stay in the source);
7. unpause: the copies in the target (and what stays paused in the source);
8. check: nothing left in the source, every copy present with owner references that resolve, nothing paused.

Objects are created and deleted as soon as their dependencies allow (`schedule.py`), with a bounded number of
requests in flight per cluster and retries with backoff on transient errors (`cluster_init.kube`).

Where the state lives, and why: only in the two clusters, so a run killed at any point (even the machine
running it) is finished by running the same command again, from anywhere:

- `cluster-init/pivot-paused` (annotation) on each Cluster/ClusterClass the move paused. In the source it
  says the pause is ours (undone if the move is refused before anything was copied); it is copied with the
  object, and in the target it says which copies to unpause once their source is gone.
- `cluster-init/pivot-source-uid` (annotation) on every copy: the UID of the source object it was copied from.
  A re-run recognises its own copies by it (so nothing is created twice, and a foreign object of the same
  name is refused, not overwritten), takes their UIDs to remap owner references, and tells a finished copy
  from one whose field managers (or status) are still to be written by comparing with the source. It stays on
  the copies as a record of where they came from.
- The source graph itself: deletion goes leaves first, so whatever is left in the source is still a
  connected graph (every remaining object's owners remain) and re-discovery finds the same plan for it.
  Deletion starts only after every copy was verified, so a source object with `delete-for-move` set (killed
  between marking and deleting) is known to be copied already.

- The Lease `kube-system/cluster-init-pivot` in the source (the target of a restore) while a pivot runs, so
  that a second one stops before it changes anything (`lock.py`). A lease left behind by a killed run is taken
  over at once by a run on the same machine, and by any other once nobody renews it.

No local file is written and nothing needs the process that started the move.

Backup (`--to-directory`) pauses, writes every object to move as a YAML file and unpauses; restore
(`--from-directory`) runs the create, verify, unpause and check phases from those files, with the same
resumption (the files keep the source UIDs).
"""

from __future__ import annotations

from cluster_init.pivot.engine import PHASES, Engine, Failed, Observer, Options, Refused, Report, Step

__all__ = ["PHASES", "Engine", "Failed", "Observer", "Options", "Refused", "Report", "Step"]
