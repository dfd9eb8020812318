"""A kind the API server does not serve (an optional CRD) is not listed again for a minute, unless the
operator applies one meanwhile (k8s/client.py): every reconcile lists each owned kind, and four of them
are optional CRDs."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from modelserve.k8s.client import ABSENT_KIND_SECONDS, KubeClient
from modelserve.k8s.transport import ApiException


class Api:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.served = False

    def request(self, method: str, path: str, **_: Any) -> Any:
        self.calls.append((method, path))
        if "httproutes" in path and not self.served and method == "GET":
            raise ApiException(status=404, reason="Not Found")
        return {"items": []} if method == "GET" else {}


def client() -> tuple[KubeClient, Api, list[float]]:
    api, now = Api(), [100.0]
    kube = KubeClient(api)  # type: ignore[arg-type]
    kube.clock = lambda: now[0]
    return kube, api, now


def test_an_absent_kind_is_not_listed_again_within_a_minute() -> None:
    kube, api, now = client()
    for _ in range(5):
        assert kube.list("HTTPRoute", "ml", label_selector="a=b") == []
        now[0] += 10
    assert len(api.calls) == 1
    now[0] += ABSENT_KIND_SECONDS
    kube.list("HTTPRoute", "ml")
    assert len(api.calls) == 2  # asked again after the minute


def test_a_served_kind_is_always_listed() -> None:
    kube, api, _ = client()
    for _ in range(3):
        kube.list("Deployment", "ml")
    assert len(api.calls) == 3


def test_applying_one_lists_the_kind_again_at_once() -> None:
    kube, api, _ = client()
    kube.list("HTTPRoute", "ml")
    api.served = True  # its CRD was installed
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "r", "namespace": "ml"},
    }
    kube.apply(route)
    kube.list("HTTPRoute", "ml")
    assert [m for m, _ in api.calls] == ["GET", "PATCH", "GET"]


class PagingApi:
    """Serves `total` Deployments in pages of the request's `limit`, with continue tokens."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.queries: list[dict] = []

    def request(self, method: str, path: str, query: Any = (), **_: Any) -> Any:
        query = dict(query)
        self.queries.append(query)
        start = int(query.get("continue") or 0)
        end = min(self.total, start + int(query["limit"]))
        items = [{"metadata": {"name": f"d-{i}"}} for i in range(start, end)]
        return {"metadata": {"continue": str(end) if end < self.total else ""}, "items": items}


@given(total=st.integers(0, 2_000), page=st.integers(1, 700))
def test_list_pages_yields_every_item_once_a_page_at_a_time(total: int, page: int) -> None:
    """A relist of thousands of objects reads them in bounded pages (limit/continue) and loses none."""
    api = PagingApi(total)
    kube = KubeClient(api)  # type: ignore[arg-type]
    pages = kube.list_pages("Deployment", "ml", label_selector="a=b", page=page)
    names = [o["metadata"]["name"] for o in pages]
    assert names == [f"d-{i}" for i in range(total)]
    assert len(api.queries) == max(1, -(-total // page))
    assert all(q["limit"] == page and q["labelSelector"] == "a=b" for q in api.queries)


def test_list_pages_of_an_absent_kind_yields_nothing_and_is_remembered() -> None:
    kube, api, _ = client()
    assert list(kube.list_pages("HTTPRoute", "ml")) == []
    assert list(kube.list_pages("HTTPRoute", "ml")) == []
    assert kube.list("HTTPRoute", "ml") == []
    assert len(api.calls) == 1
