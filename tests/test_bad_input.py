"""T0: bad input is one clear line per problem (file, field, what, fix) and exit code 2."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result

pytestmark = pytest.mark.t0

CAPD = "cluster: {name: mgmt, infra_provider: capd, bootstrap_provider: kubeadm, control_plane_replicas: 1, " \
       "worker_replicas: 0"
CAPO_SETTINGS = ("capo: {external_network_id: 0b8e4f5a-1c2d-4e5f-8a9b-0c1d2e3f4a5b, image_name: img, "
                 "control_plane_flavor: m1, worker_flavor: m1, ssh_key_name: key}")
CAPO_SECRETS = """\
secrets:
  openstack: {auth_url: "https://keystone.test/v3", username: u, password: p, project_name: p,
              user_domain_name: Default, project_domain_name: Default}
"""


def capd(extra: str = "") -> str:
    return CAPD + (", " + extra if extra else "") + "}\n"


# (id, base environment, values.yaml, secrets.yaml, text that must appear in the error line)
CASES = [
    ("unknown-top-level-key", "kubeadm-capd", capd() + "clustr: {}\n", None, "clustr: unknown field; did you mean `cluster`"),
    ("unknown-cluster-field", "kubeadm-capd", capd("nmae: x"), None, "cluster.nmae: unknown field; did you mean `name`"),
    ("bad-infra-provider", "kubeadm-capd", capd().replace("capd", "aws"), None, "cluster.infra_provider: `aws` is not allowed; use one of: capd, capo"),
    ("bad-bootstrap-provider", "kubeadm-capd", capd().replace("kubeadm", "talos"), None, "cluster.bootstrap_provider: `talos` is not allowed"),
    ("even-control-plane", "kubeadm-capd", capd().replace("control_plane_replicas: 1", "control_plane_replicas: 2"), None, "cluster.control_plane_replicas: `2` is not allowed; use one of: 1, 3, 5"),
    ("negative-workers", "kubeadm-capd", capd().replace("worker_replicas: 0", "worker_replicas: -1"), None, "cluster.worker_replicas:"),
    ("workers-not-a-number", "kubeadm-capd", capd().replace("worker_replicas: 0", "worker_replicas: two"), None, "cluster.worker_replicas: `two` is not of type integer"),
    ("bad-cluster-name", "kubeadm-capd", capd().replace("name: mgmt", "name: Mgmt_Cluster"), None, "cluster.name: `Mgmt_Cluster` is not a DNS-1123 label"),
    ("bad-k8s-version", "kubeadm-capd", capd("k8s_version: '1.33'"), None, "cluster.k8s_version: `1.33` is not a Kubernetes version"),
    ("bad-pod-cidr", "kubeadm-capd", capd("pod_cidr: 10.0.0.0"), None, "cluster.pod_cidr: `10.0.0.0` is not an IPv4 CIDR"),
    ("overlapping-cidrs", "kubeadm-capd", capd("pod_cidr: 10.0.0.0/8, service_cidr: 10.96.0.0/12"), None, "cluster.service_cidr: 10.96.0.0/12 overlaps cluster.pod_cidr"),
    ("rke2-with-kubeadm-fields", "rke2-capd", capd("kubeadm: {image_repository: reg.test/k8s}").replace("bootstrap_provider: kubeadm", "bootstrap_provider: rke2"), None, "cluster.kubeadm: must be empty: kubeadm settings, which an rke2 cluster does not use"),
    ("kubeadm-with-rke2-fields", "kubeadm-capd", capd("rke2: {cni: cilium}"), None, "cluster.rke2: must be empty: rke2 settings"),
    ("capd-with-capo-fields", "kubeadm-capd", capd(CAPO_SETTINGS), None, "cluster.capo: must be empty: OpenStack settings"),
    ("capo-without-cloud-settings", "kubeadm-capo", capd().replace("capd", "capo"), CAPO_SECRETS, "cluster.capo.external_network_id: is required but missing"),
    ("capo-without-credentials", "kubeadm-capo", capd(CAPO_SETTINGS).replace("capd", "capo"), "secrets: {}\n", "secrets.openstack: is required but missing"),
    ("capo-missing-ssh-key", "kubeadm-capo", capd(CAPO_SETTINGS.replace(", ssh_key_name: key", "")).replace("capd", "capo"), CAPO_SECRETS, "cluster.capo.ssh_key_name: is required but missing"),
    ("capo-network-not-uuid", "kubeadm-capo", capd(CAPO_SETTINGS.replace("0b8e4f5a-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "public")).replace("capd", "capo"), CAPO_SECRETS, "cluster.capo.external_network_id: `public` is not the UUID"),
    ("secrets-in-values", "kubeadm-capd", capd() + "secrets: {}\n", None, "secrets: secret values in the plain values file; move the `secrets:` block"),
    ("values-in-secrets", "kubeadm-capd", None, "secrets: {}\ncluster: {name: x}\n", "cluster: only `secrets:` belongs in the secrets file"),
    ("context-in-values", "kubeadm-capd", capd() + "context: bootstrap\n", None, "context: is chosen by cluster-init"),
    ("unknown-dependency", "kubeadm-capd", capd() + "units: {capi-core: {depends_on: [cert-manger]}}\n", None, "units.capi-core.depends_on: unknown unit `cert-manger`; did you mean `cert-manager`?"),
    ("unknown-applied-unit", "kubeadm-capd", capd() + "units: {capi-infra-docker: {after_applied: {capi-cor: capi-core-components}}}\n", None, "units.capi-infra-docker.after_applied: unknown unit `capi-cor`; did you mean `capi-core`?"),
    ("applied-dependency-cycle", "kubeadm-capd", capd() + "units: {cert-manager: {after_applied: {capi-core: capi-core-components}}}\n", None, "dependency cycle"),
    ("unknown-upstream", "kubeadm-capd", capd() + "units: {capi-core: {uses: [cluster-apis]}}\n", None, "units.capi-core.uses: unknown upstream `cluster-apis`"),
    ("dependency-cycle", "kubeadm-capd", capd() + "units: {cert-manager: {depends_on: [capi-core]}}\n", None, "dependency cycle"),
    ("bad-unit-timeout", "kubeadm-capd", capd() + "units: {capi-core: {timeout: 10 minutes}}\n", None, "units.capi-core.timeout: `10 minutes` is not a Go duration"),
    ("unknown-unit-field", "kubeadm-capd", capd() + "units: {capi-core: {dependsOn: []}}\n", None, "units.capi-core.dependsOn: unknown field; did you mean `depends_on`?"),
    ("bad-upstream-url", "kubeadm-capd", capd() + "upstreams: {cluster-api: {url: 'github.com/x'}}\n", None, "upstreams.cluster-api.url: `github.com/x` is not an https://, ssh:// or oci:// URL"),
    ("bad-upstream-version", "kubeadm-capd", capd() + "upstreams: {cluster-api: {version: latest}}\n", None, "upstreams.cluster-api.version: `latest` is not a version"),
    ("rke2-version-mismatch", "rke2-capd", capd("k8s_version: v1.33.4, rke2: {version: v1.32.1+rke2r1}").replace("bootstrap_provider: kubeadm", "bootstrap_provider: rke2"), None, "cluster.rke2.version: `v1.32.1+rke2r1` is not a release of cluster.k8s_version v1.33.4"),
    ("secret-ref-without-credentials", "kubeadm-capd", capd() + "source: {url: 'https://git.test/x.git', ref: refs/heads/main, secret_ref: git-auth}\n", None, "source.secret_ref: names the git remote's credentials, but secrets.source is not set; add `source: {username: …, password: …}` under `secrets:`"),
    ("bad-source-ref", "kubeadm-capd", capd() + "source: {url: 'https://git.test/x.git', ref: main}\n", None, "source.ref: `main` is not a git ref"),
    ("values-not-a-mapping", "kubeadm-capd", "- a\n- b\n", None, "must be a YAML mapping"),
]


@pytest.mark.parametrize("command", ["validate", "plan"])
@pytest.mark.parametrize(("base", "values", "secrets", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_values_are_refused(cli: Callable[..., Result], make_env: Callable[..., Path], command: str,
                                base: str, values: str | None, secrets: str | None, expected: str) -> None:
    env = make_env(base, values=values, secrets=secrets)
    result = cli(command, str(env))
    assert result.code == 2, result.err
    assert result.out == ""
    lines = result.err.strip().splitlines()
    matching = [line for line in lines if expected in line]
    assert matching, f"expected {expected!r} in:\n{result.err}"
    file = "secrets.yaml" if secrets is not None and values is None else "yaml"
    assert all(line.startswith("error: ") and file in line for line in matching), result.err


def test_a_syntax_error_names_file_and_line(cli: Callable[..., Result], make_env: Callable[..., Path]) -> None:
    env = make_env(values="cluster:\n  name: mgmt\n  infra_provider: [capd\n")
    result = cli("validate", str(env))
    assert result.code == 2
    assert "values.yaml:4: YAML syntax error" in result.err or "values.yaml:3: YAML syntax error" in result.err


def test_error_lines_point_at_the_offending_line(cli: Callable[..., Result], make_env: Callable[..., Path]) -> None:
    env = make_env(values="cluster:\n  name: mgmt\n  infra_provider: aws\n")
    result = cli("validate", str(env))
    assert result.code == 2
    assert "values.yaml:3: cluster.infra_provider:" in result.err


def test_a_missing_secrets_file_is_an_error_not_a_crash(cli: Callable[..., Result],
                                                        make_env: Callable[..., Path]) -> None:
    env = make_env()
    (env / "secrets.yaml").unlink()
    result = cli("validate", str(env))
    assert result.code == 2
    assert "secrets.yaml: file not found (listed by" in result.err
    assert "create it" in result.err


@pytest.mark.parametrize("command", ["validate", "plan", "render"])
def test_a_folder_that_is_not_an_environment(cli: Callable[..., Result], tmp_path: Path, command: str) -> None:
    missing = cli(command, str(tmp_path / "nope"))
    empty = cli(command, str(tmp_path))
    assert (missing.code, empty.code) == (2, 2)
    assert "no such environment directory" in missing.err
    assert "has no kustomization.yaml" in empty.err


def test_every_problem_is_reported_at_once(cli: Callable[..., Result], make_env: Callable[..., Path]) -> None:
    env = make_env(values=capd().replace("capd", "aws").replace("name: mgmt", "name: BAD"))
    result = cli("validate", str(env))
    assert result.code == 2
    assert "cluster.infra_provider" in result.err and "cluster.name" in result.err


@pytest.mark.parametrize(("args", "says"), [
    ([], "usage: ./bootstrap.sh ENV"),
    (["no-such-env"], "environment-values/no-such-env: no such environment directory"),
])
def test_the_bootstrap_wrapper_refuses_in_one_line(args: list[str], says: str) -> None:
    """`./bootstrap.sh ENV`, the seed's entry point, hands over to `cluster-init bootstrap environment-values/ENV`."""
    import subprocess

    from tests.conftest import ROOT

    proc = subprocess.run(["bash", str(ROOT / "bootstrap.sh"), *args], capture_output=True, text=True, check=False,
                          timeout=120)
    assert proc.returncode == 2
    assert says in proc.stderr and "Traceback" not in proc.stderr
