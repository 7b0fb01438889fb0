"""cluster-init: bootstrap a self-managed Cluster API management cluster with Flux."""
