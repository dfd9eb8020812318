"""The operator's own kubeconfig loader (k8s/kubeconfig.py): what kubectl would use, or an error naming
the field."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from modelserve.k8s.kubeconfig import (
    Credentials,
    ExecPlugin,
    KubeconfigError,
    credentials_from_kubeconfig,
    in_cluster_credentials,
    load_credentials,
)


def config(
    clusters: dict[str, dict], users: dict[str, dict], contexts: dict[str, dict], current: str | None = None
) -> dict:
    doc: dict = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": c} for n, c in clusters.items()],
        "users": [{"name": n, "user": u} for n, u in users.items()],
        "contexts": [{"name": n, "context": c} for n, c in contexts.items()],
    }
    if current:
        doc["current-context"] = current
    return doc


def simple(user: dict | None = None, cluster: dict | None = None) -> dict:
    return config(
        {"c": {"server": "https://127.0.0.1:6443", **(cluster or {})}},
        {"u": user or {"token": "t0"}},
        {"x": {"cluster": "c", "user": "u", "namespace": "ml"}},
        "x",
    )


def test_current_context_token_and_relative_paths_resolve_beside_the_file(tmp_path: Path) -> None:
    doc = simple(
        {"client-certificate": "pki/op.crt", "client-key": "/abs/op.key"}, {"certificate-authority": "ca.crt"}
    )
    creds = credentials_from_kubeconfig([(doc, str(tmp_path))])
    assert creds.server == "https://127.0.0.1:6443"
    assert creds.ca_path == str(tmp_path / "ca.crt")
    assert creds.cert_path == str(tmp_path / "pki" / "op.crt")
    assert creds.key_path == "/abs/op.key"
    assert creds.namespace == "ml"


def test_inline_data_is_written_to_private_files(tmp_path: Path) -> None:
    pem = b"-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n"
    encoded = base64.b64encode(pem).decode()
    doc = simple(
        {"client-certificate-data": encoded, "client-key-data": encoded},
        {"certificate-authority-data": encoded},
    )
    creds = credentials_from_kubeconfig([(doc, str(tmp_path))])
    for path in (creds.ca_path, creds.cert_path, creds.key_path):
        assert path is not None
        assert Path(path).read_bytes() == pem
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


@given(
    st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=4, unique=True),
    st.data(),
)
def test_merged_files_the_first_to_name_an_entry_wins(names: list[str], data: st.DataObject) -> None:
    """Whatever entries several files name, each name resolves to its first definition (kubectl's rule),
    and the context asked for resolves to its own cluster and user."""
    files = []
    first: dict[str, int] = {}
    for i in range(data.draw(st.integers(1, 3))):
        chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
        clusters = {n: {"server": f"https://{n}.file{i}:443"} for n in chosen}
        users = {n: {"token": f"{n}-file{i}"} for n in chosen}
        contexts = {n: {"cluster": n, "user": n} for n in chosen}
        files.append((config(clusters, users, contexts), f"/f{i}"))
        for n in chosen:
            first.setdefault(n, i)
    for name, i in first.items():
        creds = credentials_from_kubeconfig(files, name)
        assert creds.server == f"https://{name}.file{i}:443"
        assert creds.current_token() == f"{name}-file{i}"


@pytest.mark.parametrize(
    ("doc", "context", "field"),
    [
        (simple(), "nope", "contexts['nope']"),
        ({**simple(), "current-context": None}, None, "current-context"),
        (config({}, {"u": {}}, {"x": {"cluster": "c", "user": "u"}}, "x"), None, "context.cluster 'c'"),
        (
            config({"c": {"server": "x"}}, {}, {"x": {"cluster": "c", "user": "u"}}, "x"),
            None,
            "context.user 'u'",
        ),
        (simple(cluster={"server": "127.0.0.1:6443"}), None, "cluster.server"),
        (simple({"auth-provider": {"name": "gcp"}}), None, "user.auth-provider"),
        (simple({"client-certificate": "a.crt"}), None, "client-key"),
        (simple({"exec": {"args": ["x"]}}), None, "user.exec.command"),
        (simple({"token": "t", "client-key-data": "%%%"}), None, "client-key-data"),
        ({"clusters": [{"cluster": {}}]}, None, "clusters[0].name"),
    ],
)
def test_an_unusable_kubeconfig_names_the_field(doc: dict, context: str | None, field: str) -> None:
    with pytest.raises(KubeconfigError) as err:
        credentials_from_kubeconfig([(doc, "/")], context)
    assert field in str(err.value)


def test_load_reads_kubeconfig_env_paths_and_skips_a_missing_one(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(simple()))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(tmp_path / "missing"), str(path)]))
    assert load_credentials().current_token() == "t0"
    with pytest.raises(KubeconfigError, match="no such file"):
        load_credentials(str(tmp_path / "missing"))


def test_in_cluster_token_file_is_read_again_after_a_minute(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("first\n")
    (tmp_path / "namespace").write_text("modelserve-system")
    creds = in_cluster_credentials(
        {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}, tmp_path
    )
    assert creds.server == "https://[fd00::1]:443"
    assert creds.namespace == "modelserve-system"
    assert creds.authorization(now=0.0) == "Bearer first"
    (tmp_path / "token").write_text("rotated\n")
    assert creds.authorization(now=30.0) == "Bearer first"
    assert creds.authorization(now=61.0) == "Bearer rotated"
    with pytest.raises(KubeconfigError, match="KUBERNETES_SERVICE_HOST"):
        in_cluster_credentials({}, tmp_path)


def test_basic_auth_when_there_is_no_token() -> None:
    creds = Credentials(server="https://h", username="admin", password="pw")
    assert creds.authorization() == "Basic " + base64.b64encode(b"admin:pw").decode()
    assert Credentials(server="https://h").authorization() is None


def exec_script(tmp_path: Path, status: dict, counter: Path) -> ExecPlugin:
    script = tmp_path / "plugin.py"
    script.write_text(
        "import json, os, sys\n"
        f"p = {str(counter)!r}\n"
        "n = int(open(p).read()) + 1 if os.path.exists(p) else 1\n"
        "open(p, 'w').write(str(n))\n"
        "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
        "assert info['kind'] == 'ExecCredential' and os.environ['EXTRA'] == 'yes'\n"
        f"status = {json.dumps(status)!r}\n"
        "print(json.dumps({'kind': 'ExecCredential', 'status': json.loads(status.replace('N', str(n)))}))\n"
    )
    return ExecPlugin(command=sys.executable, args=(str(script),), env=(("EXTRA", "yes"),))


def test_exec_plugin_token_is_used_until_it_expires(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    plugin = exec_script(tmp_path, {"token": "tok-N", "expirationTimestamp": "2000-01-01T00:00:00Z"}, counter)
    creds = Credentials(server="https://h", exec_plugin=plugin)
    assert creds.authorization(now=0.0) == "Bearer tok-1"
    assert creds.authorization(now=0.0) == "Bearer tok-2"  # already expired: run again
    forever = exec_script(tmp_path, {"token": "t-N"}, tmp_path / "runs2")
    creds = Credentials(server="https://h", exec_plugin=forever)
    assert creds.current_token(0.0) == creds.current_token(1e9) == "t-1"


def test_exec_plugin_failures_name_the_command(tmp_path: Path) -> None:
    missing = Credentials(server="https://h", exec_plugin=ExecPlugin(command=str(tmp_path / "nope")))
    with pytest.raises(KubeconfigError, match=r"user\.exec\.command"):
        missing.current_token()
    empty = exec_script(tmp_path, {}, tmp_path / "runs")
    with pytest.raises(KubeconfigError, match="neither a token nor a certificate"):
        Credentials(server="https://h", exec_plugin=empty).current_token()
