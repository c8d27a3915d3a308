"""The sandbox is as strict as a real API server on TLS, authentication and RBAC, seen by real kubectl.

HTTPS with the sandbox's own CA (the kubeconfig carries it; a client without it fails verification);
no token or a bad one is 401; ServiceAccounts and `kubectl create token`; a fresh account's token
is refused with the real 403 until a Role and RoleBinding allow it, only in that namespace and
only for what the rules name (resources, subresources, resourceNames); a ClusterRoleBinding grants
everywhere; a deleted account's token stops working.
"""

from __future__ import annotations

import base64
import ssl
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from harness import Kubectl, wait_until
from kubernetes import client
from kubernetes.stream import portforward
from support import namespace_fixture, run_pod


@pytest.fixture(scope="module")
def admin(sandbox: Any) -> Kubectl:
    return Kubectl(sandbox.kubeconfig_path)


ns = namespace_fixture("auth", scope="function")


def as_token(sandbox: Any, token: str, tmp_path: Path) -> Kubectl:
    """kubectl with the sandbox's kubeconfig (server and CA) but another user's bearer token."""
    config = yaml.safe_load(Path(sandbox.kubeconfig_path).read_text())
    config["users"][0]["user"] = {"token": token}
    path = tmp_path / f"kubeconfig-{uuid.uuid4().hex[:6]}"
    path.write_text(yaml.safe_dump(config))
    return Kubectl(path)


def service_account(admin: Kubectl, sandbox: Any, ns: str, name: str, tmp_path: Path) -> Kubectl:
    assert admin("create", "serviceaccount", name, "-n", ns).strip() == f"serviceaccount/{name} created"
    token = admin("create", "token", name, "-n", ns).strip()
    assert token.count(".") == 2  # a JWT
    return as_token(sandbox, token, tmp_path)


def forbidden(k: Kubectl, *args: str) -> str:
    done = k.run(*args, check=False)
    assert done.returncode != 0, done.stdout
    assert done.stderr.startswith("Error from server (Forbidden): "), done.stderr
    return done.stderr.strip().removeprefix("Error from server (Forbidden): ")


def test_https_only_with_the_sandboxs_own_ca(sandbox: Any, admin: Kubectl, tmp_path: Path) -> None:
    assert sandbox.url.startswith("https://127.0.0.1:")
    cluster = yaml.safe_load(Path(sandbox.kubeconfig_path).read_text())["clusters"][0]["cluster"]
    assert base64.b64decode(cluster["certificate-authority-data"]) == sandbox.ca_pem
    assert "insecure-skip-tls-verify" not in cluster
    assert "default" in admin("get", "namespaces", "-o", "name")  # kubectl verified the server
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    assert (
        httpx.get(f"{sandbox.url}/version", verify=sandbox.ssl_context(), headers=headers).status_code == 200
    )
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{sandbox.url}/version", verify=ssl.create_default_context(), headers=headers)
    with pytest.raises(httpx.RemoteProtocolError):  # plain HTTP is not served
        httpx.get(sandbox.url.replace("https://", "http://") + "/version", headers=headers)
    # kubectl without the CA refuses the server, as against any real cluster with its own CA
    config = yaml.safe_load(Path(sandbox.kubeconfig_path).read_text())
    del config["clusters"][0]["cluster"]["certificate-authority-data"]
    (tmp_path / "no-ca").write_text(yaml.safe_dump(config))
    done = Kubectl(tmp_path / "no-ca").run("get", "namespaces", check=False)
    assert done.returncode != 0 and "x509: certificate signed by unknown authority" in done.stderr


def test_no_token_or_a_bad_one_is_401(sandbox: Any, tmp_path: Path) -> None:
    verify = sandbox.ssl_context()
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YTpi"}):
        answer = httpx.get(f"{sandbox.url}/api/v1/namespaces", verify=verify, headers=headers)
        assert answer.status_code == 401
        assert answer.json() == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "Unauthorized",
            "reason": "Unauthorized",
            "details": {},
            "code": 401,
        }
    done = as_token(sandbox, "forged.token.value", tmp_path).run("get", "pods", check=False)
    assert done.returncode != 0 and "error: You must be logged in to the server" in done.stderr


def test_service_accounts_are_authorised_by_rbac(
    sandbox: Any, admin: Kubectl, ns: str, tmp_path: Path
) -> None:
    wait_until(
        lambda: admin.run("get", "serviceaccount", "default", "-n", ns, check=False).returncode == 0,
        within=20,
        what="the namespace's default ServiceAccount",
    )
    bot = service_account(admin, sandbox, ns, "bot", tmp_path)
    assert (
        bot("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
        == f"system:serviceaccount:{ns}:bot"
    )
    user = f'User "system:serviceaccount:{ns}:bot"'
    assert forbidden(bot, "get", "pods", "-n", ns) == (
        f'pods is forbidden: {user} cannot list resource "pods" in API group "" in the namespace "{ns}"'
    )
    assert bot.run("auth", "can-i", "list", "pods", "-n", ns, check=False).stdout.strip() == "no"

    admin("create", "role", "pod-reader", "-n", ns, "--verb=get,list,watch", "--resource=pods")
    admin(
        "create", "rolebinding", "bot-reads-pods", "-n", ns, "--role=pod-reader", f"--serviceaccount={ns}:bot"
    )
    assert "No resources found" in bot.run("get", "pods", "-n", ns).stderr
    assert bot("auth", "can-i", "list", "pods", "-n", ns).strip() == "yes"
    rules = [line.split() for line in bot("auth", "can-i", "--list", "-n", ns).splitlines()]
    assert ["pods", "[]", "[]", "[get", "list", "watch]"] in rules
    assert forbidden(bot, "get", "secrets", "-n", ns) == (
        f'secrets is forbidden: {user} cannot list resource "secrets" in API group "" in the namespace "{ns}"'
    )
    assert forbidden(bot, "get", "pods", "-n", "default").endswith('in the namespace "default"')
    assert forbidden(bot, "get", "pods", "-A").endswith(
        'cannot list resource "pods" in API group "" at the cluster scope'
    )
    assert forbidden(bot, "delete", "pod", "nothing", "-n", ns).startswith('pods "nothing" is forbidden')
    assert forbidden(bot, "get", "deployments", "-n", ns).startswith(
        f'deployments.apps is forbidden: {user} cannot list resource "deployments" in API group "apps"'
    )

    binding = f"bot-secrets-{ns}"
    admin("create", "clusterrole", binding, "--verb=list", "--resource=secrets")
    admin("create", "clusterrolebinding", binding, f"--clusterrole={binding}", f"--serviceaccount={ns}:bot")
    try:
        for where in (ns, "default", "kube-system"):
            bot("get", "secrets", "-n", where)
        bot("get", "secrets", "-A")
    finally:
        admin("delete", "clusterrolebinding,clusterrole", binding)
    forbidden(bot, "get", "secrets", "-n", "default")

    # impersonation: the admin may act as the account (and is then refused like it); the account may not
    assert forbidden(admin, f"--as=system:serviceaccount:{ns}:bot", "get", "secrets", "-n", ns).startswith(
        f"secrets is forbidden: {user} cannot list"
    )
    assert (
        "No resources found"
        in admin.run(f"--as=system:serviceaccount:{ns}:bot", "get", "pods", "-n", ns).stderr
    )
    assert forbidden(admin, "--as=jane", "get", "pods", "-n", ns).startswith('pods is forbidden: User "jane"')
    assert forbidden(bot, "--as=jane", "get", "pods", "-n", ns) == (
        f'users "jane" is forbidden: {user} cannot impersonate resource "users" in API group "" '
        "at the cluster scope"
    )

    admin("delete", "serviceaccount", "bot", "-n", ns)
    done = bot.run("get", "pods", "-n", ns, check=False)
    assert done.returncode != 0 and "error: You must be logged in to the server" in done.stderr  # token died


def test_resource_names_decide(sandbox: Any, admin: Kubectl, ns: str, tmp_path: Path) -> None:
    bot = service_account(admin, sandbox, ns, "bot", tmp_path)
    admin("create", "configmap", "mine", "-n", ns, "--from-literal=a=1")
    admin("create", "configmap", "theirs", "-n", ns, "--from-literal=a=2")
    admin(
        "create", "role", "one-map", "-n", ns, "--verb=get", "--resource=configmaps", "--resource-name=mine"
    )
    admin("create", "rolebinding", "one-map", "-n", ns, "--role=one-map", f"--serviceaccount={ns}:bot")
    assert bot("get", "configmap", "mine", "-n", ns, "-o", "jsonpath={.data.a}") == "1"
    assert forbidden(bot, "get", "configmap", "theirs", "-n", ns).startswith(
        'configmaps "theirs" is forbidden'
    )
    assert forbidden(bot, "get", "configmaps", "-n", ns).startswith(
        "configmaps is forbidden"
    )  # a list names none


def test_subresource_rules_decide_eviction_and_port_forward(
    sandbox: Any, admin: Kubectl, ns: str, tmp_path: Path
) -> None:
    run_pod(sandbox, ns, "web")
    admin("create", "serviceaccount", "bot", "-n", ns)
    token = admin("create", "token", "bot", "-n", ns).strip()
    admin("create", "role", "pods", "-n", ns, "--verb=get,list", "--resource=pods")
    admin("create", "rolebinding", "pods", "-n", ns, "--role=pods", f"--serviceaccount={ns}:bot")
    configuration = client.Configuration()
    configuration.host, configuration.ssl_ca_cert = sandbox.url, str(sandbox.ca_path)
    configuration.api_key = {"authorization": f"Bearer {token}"}
    with client.ApiClient(configuration) as api_client:
        core = client.CoreV1Api(api_client)
        assert core.read_namespaced_pod("web", ns).status.phase == "Running"
        eviction = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": "web", "namespace": ns},
        }
        with pytest.raises(client.ApiException) as refused:
            core.create_namespaced_pod_eviction("web", ns, eviction)
        assert refused.value.status == 403
        status = yaml.safe_load(refused.value.body)
        assert status["reason"] == "Forbidden"
        assert status["details"] == {"name": "web", "group": "", "kind": "pods"}
        assert 'cannot create resource "pods/eviction" in API group ""' in status["message"]

        def forward() -> bytes:
            pf = portforward(core.connect_get_namespaced_pod_portforward, "web", ns, ports="6060")
            sock = pf.socket(6060)
            sock.setblocking(True)
            sock.sendall(
                b"GET /debug/pprof/goroutine?debug=1 HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n"
            )
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
            sock.close()
            return received

        with pytest.raises(client.ApiException) as no_forward:
            forward()
        # the client's websocket handshake fails on the 403 (it reports status 0 and the handshake line)
        assert "Handshake status 403 Forbidden" in str(no_forward.value), no_forward.value
        assert 'cannot get resource \\"pods/portforward\\" in API group' in str(no_forward.value)
        # a websocket upgrade is a GET, but since 1.35 it needs `create` too (kubernetes#134577)
        admin("create", "role", "forward", "-n", ns, "--verb=get", "--resource=pods/portforward")
        admin("create", "rolebinding", "forward", "-n", ns, "--role=forward", f"--serviceaccount={ns}:bot")
        with pytest.raises(client.ApiException) as get_only:
            forward()
        assert "Handshake status 403 Forbidden" in str(get_only.value)
        # `get` passed; the synthetic `create` check is what refused it
        assert 'cannot create resource \\"pods/portforward\\" in API group' in str(get_only.value)
        admin(
            "patch",
            "role",
            "forward",
            "-n",
            ns,
            "--type=json",
            "-p",
            '[{"op": "add", "path": "/rules/0/verbs/-", "value": "create"}]',
        )
        assert b"goroutine profile: total" in forward()

        admin("create", "role", "evict", "-n", ns, "--verb=create", "--resource=pods/eviction")
        admin("create", "rolebinding", "evict", "-n", ns, "--role=evict", f"--serviceaccount={ns}:bot")
        core.create_namespaced_pod_eviction("web", ns, eviction)
        wait_until(
            lambda: admin.run("get", "pod", "web", "-n", ns, check=False).returncode != 0,
            within=20,
            what="the evicted pod gone",
        )


async def test_a_pods_service_account_files_work_in_cluster(
    sandbox: Any, admin: Kubectl, ns: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the kubelet mounts (`service_account_files`) and the KUBERNETES_SERVICE_* address are
    enough for the operator's own in-cluster connection: HTTPS verified with ca.crt, the token."""
    from leakpatrol.kube.connection import connect  # noqa: PLC0415 - the operator's code, as in a pod
    from leakpatrol.kube.errors import ApiError  # noqa: PLC0415

    wait_until(
        lambda: admin.run("get", "serviceaccount", "default", "-n", ns, check=False).returncode == 0,
        within=20,
        what="the namespace's default ServiceAccount",
    )
    files = sandbox.service_account_files(ns, "default")
    assert set(files) == {"token", "ca.crt", "namespace"}
    assert files["ca.crt"] == sandbox.ca_pem and files["namespace"] == ns.encode()
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", sandbox.service_host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(sandbox.service_port))
    async with await connect(service_account_dir=tmp_path) as api:
        assert api.server == f"https://{sandbox.service_host}:{sandbox.service_port}"
        with pytest.raises(ApiError) as refused:
            await api.get(f"/api/v1/namespaces/{ns}/pods")
        assert refused.value.status == 403
        assert f'User "system:serviceaccount:{ns}:default" cannot list resource "pods"' in str(refused.value)
        admin(
            "create",
            "rolebinding",
            "default-view",
            "-n",
            ns,
            "--clusterrole=view-pods-" + ns,
            "--serviceaccount",
            f"{ns}:default",
        )
        admin("create", "clusterrole", f"view-pods-{ns}", "--verb=list", "--resource=pods")
        try:
            assert (await api.get(f"/api/v1/namespaces/{ns}/pods"))["items"] == []
        finally:
            admin("delete", "clusterrole", f"view-pods-{ns}")
    with pytest.raises(KeyError):
        sandbox.service_account_files(ns, "nobody")


def test_token_request_api(sandbox: Any, admin: Kubectl, ns: str) -> None:
    admin("create", "serviceaccount", "bot", "-n", ns)
    with httpx.Client(
        base_url=sandbox.url,
        verify=sandbox.ssl_context(),
        headers={"Authorization": f"Bearer {sandbox.token}"},
    ) as http:
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 900},
        }
        answer = http.post(f"/api/v1/namespaces/{ns}/serviceaccounts/bot/token", json=request)
        assert answer.status_code == 201, answer.text
        review = answer.json()
        assert (review["kind"], review["apiVersion"]) == ("TokenRequest", "authentication.k8s.io/v1")
        assert review["spec"]["expirationSeconds"] == 900 and review["status"]["token"].count(".") == 2
        assert review["status"]["expirationTimestamp"].endswith("Z")
        missing = http.post(f"/api/v1/namespaces/{ns}/serviceaccounts/nobody/token", json=request)
        assert missing.status_code == 404
        assert missing.json()["message"] == 'serviceaccounts "nobody" not found'
        short = http.post(
            f"/api/v1/namespaces/{ns}/serviceaccounts/bot/token", json={"spec": {"expirationSeconds": 60}}
        )
        assert short.status_code == 422 and "spec.expirationSeconds" in short.json()["message"]
    mine = httpx.get(
        f"{sandbox.url}/api/v1/namespaces/{ns}/serviceaccounts/bot",
        verify=sandbox.ssl_context(),
        headers={"Authorization": f"Bearer {review['status']['token']}"},
    )
    assert mine.status_code == 403 and mine.json()["details"] == {
        "name": "bot",
        "group": "",
        "kind": "serviceaccounts",
    }
