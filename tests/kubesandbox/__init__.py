"""kubesandbox: a local Kubernetes-like cluster for tests and the demo, built on kmock 0.8.

    async with Sandbox() as sb: ...                 # in-process, same event loop
    with ThreadedSandbox() as sb: ...               # own thread; for kubectl and sync clients
    sb.url, sb.kubeconfig_path                      # https URL; kubeconfig with the CA and admin token
    sb.ca_pem, sb.ca_path, sb.token, sb.ssl_context()  # for clients without the kubeconfig
    sb.service_account_files(ns, sa)                # a pod's token, ca.crt, namespace files
    sb.service_host, sb.service_port                # KUBERNETES_SERVICE_HOST/PORT for pods
    IMAGES["my/image"] = Image("program-dir", ["-listen", "{ip}:{port}"])

`python -m kubesandbox up` runs one in the foreground. See README.md next to this file.
"""

from .images import IMAGES, Image
from .kubelet import Backoff
from .sandbox import Sandbox, ThreadedSandbox

__all__ = ["IMAGES", "Backoff", "Image", "Sandbox", "ThreadedSandbox"]
