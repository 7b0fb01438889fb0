from cluster_init.cli import entry

entry()
