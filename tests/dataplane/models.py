"""Tiny scikit-learn models for the real-runtime tests, trained with the MLServer venv's Python (the
scikit-learn that loads them) and saved the way mlserver-sklearn finds them: ``model.joblib``.

``good``: LogisticRegression on iris. ``good-v2``: another regularisation, same answers in practice.
``broken``: a pickled subclass whose ``predict`` raises (a model that loads, passes its readiness probe and
fails every request); its class lives in ``failing_model.py`` next to it, importable because
``mlserver start <dir>`` puts the model directory on ``sys.path``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.dataplane.images import mlserver_python

KINDS = ("good", "good-v2", "broken")
MODEL_FILE = "model.joblib"

FAILING_MODEL_MODULE = '''\
"""A classifier that loads and then fails every prediction (the e2e's broken model version)."""
from sklearn.linear_model import LogisticRegression


class FailingClassifier(LogisticRegression):
    def predict(self, X):
        raise RuntimeError("this model version is broken: predict always fails")
'''

TRAIN = """\
import sys
from pathlib import Path

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

dest, kind = Path(sys.argv[1]), sys.argv[2]
X, y = load_iris(return_X_y=True)
if kind == "broken":
    sys.path.insert(0, str(dest))
    from failing_model import FailingClassifier
    model = FailingClassifier(max_iter=500)
else:
    model = LogisticRegression(max_iter=500, C=1.0 if kind == "good" else 0.5)
model.fit(X, y)
joblib.dump(model, dest / "model.joblib")
"""

#: Rows of iris features sent by the tests' traffic (setosa, versicolor, virginica).
IRIS_ROWS = ((5.1, 3.5, 1.4, 0.2), (6.4, 3.2, 4.5, 1.5), (6.3, 3.3, 6.0, 2.5))


def train(dest: Path, kind: str = "good") -> Path:
    """Train a ``kind`` model into directory ``dest`` (created); returns ``dest``."""
    if kind not in KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {KINDS}")
    dest.mkdir(parents=True, exist_ok=True)
    if kind == "broken":
        (dest / "failing_model.py").write_text(FAILING_MODEL_MODULE)
    subprocess.run([str(mlserver_python()), "-c", TRAIN, str(dest), kind], check=True, timeout=300)
    return dest
