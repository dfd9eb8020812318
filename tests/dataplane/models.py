"""Tiny scikit-learn models for the real-runtime tests, trained with the MLServer venv's Python (the
scikit-learn that loads them) and saved the way mlserver-sklearn finds them: ``model.joblib``.

``good``: LogisticRegression on iris. ``good-v2``: another regularisation, same answers in practice, whose
``predict`` takes 15 ms (a model with some compute, so a slower version is measurable above the HTTP
overhead). ``broken``: a pickled subclass whose ``predict`` raises (a model that loads, passes its readiness
probe and fails every request). ``slow``: ``good-v2`` 3x slower (45 ms per predict). The subclasses live
in a module next to ``model.joblib`` (``failing_model.py``, ``delayed_model.py``), importable because
``mlserver start <dir>`` puts the model directory on ``sys.path``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.dataplane.images import mlserver_python

KINDS = ("good", "good-v2", "broken", "slow")
#: Seconds each predict call of ``good-v2`` and ``slow`` takes (on top of the model's own few µs).
PREDICT_SECONDS = {"good-v2": 0.015, "slow": 0.045}
MODEL_FILE = "model.joblib"

FAILING_MODEL_MODULE = '''\
"""A classifier that loads and then fails every prediction (the e2e's broken model version)."""
from sklearn.linear_model import LogisticRegression


class FailingClassifier(LogisticRegression):
    def predict(self, X):
        raise RuntimeError("this model version is broken: predict always fails")
'''

DELAYED_MODEL_MODULE = '''\
"""A classifier whose predict takes `delay_seconds` (stands for a model's compute time in the e2e)."""
import time

from sklearn.linear_model import LogisticRegression


class DelayedClassifier(LogisticRegression):
    delay_seconds = 0.0  # set on the instance after fitting (not a hyper-parameter)

    def predict(self, X):
        time.sleep(self.delay_seconds)
        return super().predict(X)
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
elif kind in ("good-v2", "slow"):
    sys.path.insert(0, str(dest))
    from delayed_model import DelayedClassifier
    model = DelayedClassifier(max_iter=500, C=0.5)
else:
    model = LogisticRegression(max_iter=500, C=1.0)
model.fit(X, y)
if kind in ("good-v2", "slow"):
    model.delay_seconds = float(sys.argv[3])
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
    if kind in PREDICT_SECONDS:
        (dest / "delayed_model.py").write_text(DELAYED_MODEL_MODULE)
    delay = str(PREDICT_SECONDS.get(kind, 0.0))
    subprocess.run([str(mlserver_python()), "-c", TRAIN, str(dest), kind, delay], check=True, timeout=300)
    return dest
