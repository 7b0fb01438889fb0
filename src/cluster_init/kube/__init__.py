"""The only door to a cluster: everything in cluster-init, testenv and the tests that talks to an API server
goes through this package.

- `config`: kubeconfig loading (KUBECONFIG lists, contexts, certificates, tokens, exec plugins) and writing;
- `client`: the async client (aiohttp): timeouts, bounded retries, fail-fast on an unreachable server;
- `discovery`: what the server serves (`Resource`);
- `apply`: server-side apply with a field manager;
- `watch`: list-then-watch that resumes from a resourceVersion and relists on 410 Gone;
- `status`: readiness in the spirit of kstatus;
- `sync`: a blocking facade for code that is not async.
"""

from cluster_init.kube.client import JSON_PATCH, MERGE_PATCH, Client, RetryPolicy, Stats
from cluster_init.kube.config import KubeConfig
from cluster_init.kube.discovery import JSON, Resource
from cluster_init.kube.errors import ApiError, KubeconfigError, Unreachable

__all__ = ["JSON", "JSON_PATCH", "MERGE_PATCH", "ApiError", "Client", "KubeConfig", "KubeconfigError", "Resource",
           "RetryPolicy", "Stats", "Unreachable"]
