"""Which local executables play which container images, and where the MLServer venv is.

``make mlserver`` installs the pinned MLServer (``mlserver-requirements.txt``) into its own cached venv:
its dependencies conflict with the operator's, so it cannot live in ``.venv``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.dataplane.podspec import LocalImage

REQUIREMENTS = Path(__file__).with_name("mlserver-requirements.txt")
#: The operator's image name (``image_name`` of the chart's image); its ``modelserve`` console script.
OPERATOR_IMAGE = "modelserve"
MLSERVER_IMAGE = "mlserver"
# What docker.io/seldonio/mlserver runs when a container names no command, and the ports MLServer opens
# when their variables are unset (mlserver/settings.py: http_port 8080, grpc_port 8081, metrics_port 8082).
MLSERVER_ENTRYPOINT = ("mlserver", "start", "$(MLSERVER_MODELS_DIR)")
MLSERVER_PORT_ENV = {"MLSERVER_HTTP_PORT": 8080, "MLSERVER_GRPC_PORT": 8081, "MLSERVER_METRICS_PORT": 8082}


def mlserver_version() -> str:
    for line in REQUIREMENTS.read_text().splitlines():
        if line.startswith("mlserver=="):
            return line.split("==", 1)[1].strip()
    raise RuntimeError(f"{REQUIREMENTS}: no mlserver== pin")


def mlserver_venv() -> Path:
    """``$MLSERVER_VENV`` or ``~/.cache/modelserve/mlserver-<version>`` (the Makefile's default)."""
    if os.environ.get("MLSERVER_VENV"):
        return Path(os.environ["MLSERVER_VENV"])
    return Path.home() / ".cache" / "modelserve" / f"mlserver-{mlserver_version()}"


def mlserver_missing() -> str | None:
    """Why MLServer cannot run here (``None`` when it can): the skip reason of the real-runtime tests."""
    venv = mlserver_venv()
    if not (venv / "bin" / "mlserver").exists():
        return f"MLServer is not installed in {venv}: run `make mlserver`"
    installed = venv / "requirements.installed"
    if not installed.exists() or installed.read_text() != REQUIREMENTS.read_text():
        return f"MLServer in {venv} does not match {REQUIREMENTS.name}: run `make mlserver`"
    return None


def operator_bin_dir() -> Path:
    """The bin directory of the Python running the tests (this repo's .venv: its ``modelserve``)."""
    return Path(sys.executable).parent


def local_images() -> dict[str, LocalImage]:
    """The images the e2e data plane can run: the operator's and MLServer's."""
    return {
        OPERATOR_IMAGE: LocalImage(operator_bin_dir(), entrypoint=("modelserve",)),
        MLSERVER_IMAGE: LocalImage(
            mlserver_venv() / "bin", entrypoint=MLSERVER_ENTRYPOINT, port_env=MLSERVER_PORT_ENV
        ),
    }


def mlserver_python() -> Path:
    """The MLServer venv's Python: models are trained with the scikit-learn the server loads them with."""
    return mlserver_venv() / "bin" / "python"
