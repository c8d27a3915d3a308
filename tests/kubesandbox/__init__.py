"""kubesandbox: a local Kubernetes-like cluster for tests and the demo, built on kmock 0.8.

    async with Sandbox() as sb: ...                 # in-process, same event loop
    with ThreadedSandbox() as sb: ...               # own thread; for kubectl and sync clients
    sb.url, sb.kubeconfig_path                      # http server URL; kubeconfig with a token
    IMAGES["my/image"] = Image("program-dir", ["-listen", "{ip}:{port}"])

`python -m kubesandbox up` runs one in the foreground. See README.md next to this file.
"""

from .images import IMAGES, Image
from .kubelet import Backoff
from .sandbox import Sandbox, ThreadedSandbox

__all__ = ["IMAGES", "Backoff", "Image", "Sandbox", "ThreadedSandbox"]
