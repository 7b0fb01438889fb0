"""OpenStack for `cluster-init cleanup`: what Cluster API Provider OpenStack left in a project for one cluster.

- `markers`: the names and descriptions CAPO v0.13.0 writes on what it creates (the only way in);
- `discovery`: the project's resources, and which of them carry one cluster's markers;
- `plan`: those resources in the order they can be deleted, as text or JSON;
- `apply`: the deletions, each waited for, retried while busy, resumable;
- `credentials`: the connection, from the environment's secrets or a clouds.yaml.
"""
