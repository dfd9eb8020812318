"""kopf logs in with the operator's own credentials (handlers/operator.py `login`): the same server, CA,
client certificate, token or basic auth as its transport, from the same kubeconfig."""

from __future__ import annotations

from pathlib import Path

import yaml
from modelserve.handlers import operator as handlers


def write_config(tmp_path: Path, user: dict) -> str:
    doc = {
        "clusters": [
            {"name": "c", "cluster": {"server": "https://127.0.0.1:6443", "certificate-authority": "ca.crt"}}
        ],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "ml"}}],
        "current-context": "x",
    }
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def login_with(tmp_path: Path, user: dict, monkeypatch) -> object:
    monkeypatch.setattr(handlers.OPTIONS, "kubeconfig", write_config(tmp_path, user))
    return handlers.login()


def test_client_certificate(tmp_path: Path, monkeypatch) -> None:
    info = login_with(tmp_path, {"client-certificate": "op.crt", "client-key": "op.key"}, monkeypatch)
    assert info.server == "https://127.0.0.1:6443"
    assert info.ca_path == str(tmp_path / "ca.crt")
    assert info.certificate_path == str(tmp_path / "op.crt") and info.private_key_path == str(
        tmp_path / "op.key"
    )
    assert info.token is None and info.scheme is None
    assert info.default_namespace == "ml"


def test_token_and_basic_auth(tmp_path: Path, monkeypatch) -> None:
    info = login_with(tmp_path, {"token": "abc"}, monkeypatch)
    assert (info.scheme, info.token) == ("Bearer", "abc")
    info = login_with(tmp_path, {"username": "admin", "password": "pw"}, monkeypatch)
    assert (info.username, info.password, info.token) == ("admin", "pw", None)
