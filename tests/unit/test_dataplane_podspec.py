"""The e2e data plane's pure pod translation (tests/dataplane/podspec.py) and pod status (status.py)."""

from __future__ import annotations

import base64
import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.dataplane.podspec import (
    EnvSources,
    LocalImage,
    PodSpecError,
    expand,
    image_name,
    plan_pod,
    rewrite_paths,
    secret_names,
)
from tests.dataplane.status import ContainerState, Exit, LocalPod, differs, pod_status

MLSERVER_BIN = Path("/venvs/mlserver/bin")
OPERATOR_BIN = Path("/repo/.venv/bin")
IMAGES = {
    "mlserver": LocalImage(
        MLSERVER_BIN, ("mlserver", "start", "$(MLSERVER_MODELS_DIR)"), {"MLSERVER_GRPC_PORT": 8081}
    ),
    "modelserve": LocalImage(OPERATOR_BIN, ("modelserve",)),
}


def pod() -> dict:
    """A pod as the mlserver runtime renders it (issue 16 contract)."""
    return {
        "metadata": {"name": "iris-abc-1", "namespace": "ns", "labels": {"modelserve.io/revision": "abc"}},
        "spec": {
            "volumes": [{"name": "model", "emptyDir": {"sizeLimit": "1Gi"}}],
            "initContainers": [
                {
                    "name": "storage-init",
                    "image": "ghcr.io/modelserve/modelserve:0.1.0",
                    "command": [
                        "modelserve",
                        "storage-init",
                        "--uri",
                        "s3://m/iris",
                        "--dest",
                        "/mnt/models",
                    ],
                    "envFrom": [{"secretRef": {"name": "s3"}}],
                    "env": [{"name": "AWS_ENDPOINT_URL", "value": "http://127.0.0.1:9333"}],
                    "volumeMounts": [{"name": "model", "mountPath": "/mnt/models"}],
                }
            ],
            "containers": [
                {
                    "name": "server",
                    "image": "docker.io/seldonio/mlserver:1.7.1",
                    "command": ["mlserver", "start", "/mnt/models"],
                    "env": [
                        {"name": "MLSERVER_MODEL_URI", "value": "/mnt/models"},
                        {"name": "MLSERVER_HTTP_PORT", "value": "8080"},
                        {"name": "MLSERVER_METRICS_PORT", "value": "8082"},
                        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "WHERE", "value": "$(POD):$(MLSERVER_MODEL_URI)"},
                    ],
                    "ports": [
                        {"name": "http", "containerPort": 8080},
                        {"name": "metrics", "containerPort": 8082},
                    ],
                    "readinessProbe": {"httpGet": {"path": "/v2/models/iris/ready", "port": "http"}},
                    "volumeMounts": [{"name": "model", "mountPath": "/mnt/models", "readOnly": True}],
                }
            ],
        },
    }


SOURCES = EnvSources(secrets={"s3": {"data": {"AWS_ACCESS_KEY_ID": base64.b64encode(b"key").decode()}}})


def plan(body: dict | None = None, sources: EnvSources = SOURCES):  # type: ignore[no-untyped-def]
    ports = itertools.count(40000)
    return plan_pod(body or pod(), IMAGES, sources, Path("/work/p"), lambda: next(ports))


def test_the_rendered_command_runs_with_local_executables_paths_and_ports() -> None:
    p = plan()
    assert p.ports == {8080: 40000, 8081: 40001, 8082: 40002}
    model_dir = "/work/p/volumes/model"
    assert p.server.argv == (str(MLSERVER_BIN / "mlserver"), "start", model_dir)
    env = p.server.env
    assert env["MLSERVER_MODEL_URI"] == model_dir
    assert (env["MLSERVER_HTTP_PORT"], env["MLSERVER_METRICS_PORT"]) == ("40000", "40002")
    assert env["MLSERVER_GRPC_PORT"] == "40001", "a port the image opens by default is remapped too"
    assert env["WHERE"] == f"iris-abc-1:{model_dir}"
    assert env["PATH"].startswith(str(MLSERVER_BIN))
    assert p.readiness is not None and p.readiness.url == "http://127.0.0.1:40000/v2/models/iris/ready"
    assert p.metrics is not None and (p.metrics.port, p.metrics.path) == (40002, "/metrics")
    assert p.http_port == 40000


def test_init_containers_get_secrets_and_the_termination_log() -> None:
    (init,) = plan().init
    assert init.argv[0] == str(OPERATOR_BIN / "modelserve")
    assert init.argv[-2:] == ("--dest", "/work/p/volumes/model")
    assert init.env["AWS_ACCESS_KEY_ID"] == "key"
    assert init.env["MODELSERVE_TERMINATION_LOG"] == str(init.termination_log)


def test_a_missing_secret_names_the_field() -> None:
    with pytest.raises(PodSpecError, match=r"spec.initContainers\[0\].envFrom\[0\].secretRef: Secret 's3'"):
        plan(sources=EnvSources())
    assert secret_names(pod()) == {"s3"}


def test_an_unknown_image_names_the_field() -> None:
    body = pod()
    body["spec"]["containers"][0]["image"] = "nvcr.io/nvidia/tritonserver:24.12-py3"
    with pytest.raises(PodSpecError, match=r"spec.containers\[0\].image: no local executable"):
        plan(body)


def test_the_image_entrypoint_runs_when_no_command_is_given() -> None:
    body = pod()
    server = body["spec"]["containers"][0]
    del server["command"]
    server["env"].append({"name": "MLSERVER_MODELS_DIR", "value": "/mnt/models"})
    assert plan(body).server.argv[1:] == ("start", "/work/p/volumes/model")


def test_image_names() -> None:
    assert image_name("docker.io/seldonio/mlserver:1.7.1") == "mlserver"
    assert image_name("ghcr.io/modelserve/modelserve@sha256:abc") == "modelserve"
    assert image_name("localhost:5000/mlserver") == "mlserver"


def test_a_local_directory_under_another_mount_path_is_not_rewritten_again() -> None:
    mounts = {"/mnt/models": Path("/tmp/pod/volumes/model"), "/tmp": Path("/tmp/pod/volumes/tmp")}
    assert rewrite_paths("--dest=/mnt/models/x", mounts) == "--dest=/tmp/pod/volumes/model/x"
    assert rewrite_paths("/tmp/cache", mounts) == "/tmp/pod/volumes/tmp/cache"


def test_expand_follows_kubernetes() -> None:
    assert expand("$(A)/$(B)/$$(A)", {"A": "x"}) == "x/$(B)/$(A)"


segment = st.text(alphabet="abcxyz_-", min_size=1, max_size=6)


@given(
    st.lists(segment, min_size=1, max_size=3),
    st.lists(segment, max_size=3),
    st.sampled_from(["", "=", " ", ":"]),
)
def test_rewrite_paths_replaces_whole_path_prefixes_only(
    mount_parts: list[str], rest: list[str], sep: str
) -> None:
    mount = "/" + "/".join(mount_parts)
    local = Path("/tmp/local")
    inside = mount + "".join("/" + r for r in rest)
    assert rewrite_paths(f"--x{sep}{inside}" if sep else inside, {mount: local}).endswith(
        str(local) + "".join("/" + r for r in rest)
    )
    # A longer sibling name is another path, never rewritten.
    assert rewrite_paths(mount + "extra", {mount: local}) == mount + "extra"


# --- status ---------------------------------------------------------------------------------------------


def _exit(code: int, message: str = "") -> Exit:
    return Exit(code, message, "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z")


def test_a_failed_init_container_reports_its_message_and_no_readiness() -> None:
    failed = ContainerState("waiting", last=_exit(1, "ModelFetchFailed: s3://m/iris: not found"), restarts=1)
    status = pod_status(pod(), LocalPod(init={"storage-init": failed}), "now")
    (init,) = status["initContainerStatuses"]
    assert init["state"] == {"waiting": {"reason": "CrashLoopBackOff"}}
    assert init["lastState"]["terminated"]["message"].startswith("ModelFetchFailed: s3://m/iris")
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "False"
    assert status["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}


def test_ready_only_once_the_server_probe_passes() -> None:
    done = {"storage-init": ContainerState("done", last=_exit(0))}
    starting = pod_status(pod(), LocalPod(init=done, server=ContainerState("running", "t")), "now")
    ready = pod_status(pod(), LocalPod(init=done, server=ContainerState("running", "t", ready=True)), "now")
    assert {c["type"]: c["status"] for c in starting["conditions"]}["Ready"] == "False"
    assert {c["type"]: c["status"] for c in ready["conditions"]}["Ready"] == "True"
    assert differs(starting, ready) and not differs(ready, ready)
