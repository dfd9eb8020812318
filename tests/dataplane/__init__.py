"""The real data plane of the e2e tests (docs/dataplane.md): the rendered pods of KWOK nodes run as local
processes (``PodRunner``), real OIP v2 requests split by the operator's weights (``InferenceTraffic``),
MLServer from its own cached venv (``mlserver_image``)."""
