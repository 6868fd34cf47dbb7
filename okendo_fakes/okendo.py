"""A fake Okendo Enterprise API: ``GET /reviews`` as Okendo documents it, with HTTP Basic auth,
``limit`` 1-100, ``orderBy`` date asc/desc, ``status`` (default approved), ``lastEvaluated``
cursor pages with a relative ``nextUrl``, and 2 requests per second (429 beyond)."""

import base64
import json
from typing import Any
from urllib.parse import parse_qs, quote

from okendo_fakes.server import FakeApp, LeakyBucket, Response


class FakeOkendo(FakeApp):
    name = "okendo"

    def __init__(
        self,
        *,
        user: str = "okendo-user",
        key: str = "okendo-key",
        rate_limit: float | None = 2.0,
        seed: int = 0,
    ) -> None:
        super().__init__(seed=seed)
        self.credentials = "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()
        self.bucket = LeakyBucket(rate_limit, capacity=2) if rate_limit else None
        self.clear()

    def clear(self) -> None:
        self.reviews: list[dict[str, Any]] = []

    def state(self) -> dict[str, Any]:
        return {"reviews": self.reviews}

    def rate_limited(self, path: str) -> Response:
        return Response(429, {"message": "Too Many Requests"})

    def handle_get(self, path: str, query: str, headers: dict[str, str]) -> Response:
        if headers.get("authorization") != self.credentials:
            return Response(401, {"message": "Unauthorized"})
        if self.bucket is not None and not self.bucket.allow():
            return self.rate_limited(path)
        if path != "/reviews":
            return Response(404, {"message": f"no route GET {path}"})
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        try:
            limit = int(params.get("limit", "25"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            return Response(400, {"message": "limit must be between 1 and 100"})
        order = params.get("orderBy", "date desc")
        if order not in ("date desc", "date asc"):
            return Response(400, {"message": f"unsupported orderBy {order!r}"})
        status = params.get("status", "approved")
        with self.lock:
            rows = sorted(
                (r for r in self.reviews if r.get("status") == status),
                key=lambda r: (r["dateCreated"], r["reviewId"]),
                reverse=order == "date desc",
            )
        if "lastEvaluated" in params:
            last = json.loads(params["lastEvaluated"])
            marker = (last["dateCreated"], last["reviewId"])
            rows = [
                r
                for r in rows
                if ((r["dateCreated"], r["reviewId"]) < marker) == (order == "date desc")
                and (r["dateCreated"], r["reviewId"]) != marker
            ]
        page, rest = rows[:limit], rows[limit:]
        body: dict[str, Any] = {"reviews": page}
        if rest:
            cursor = json.dumps(
                {"reviewId": page[-1]["reviewId"], "dateCreated": page[-1]["dateCreated"]}
            )
            body["nextUrl"] = (
                f"/reviews?limit={limit}&orderBy={quote(order)}&status={status}"
                f"&lastEvaluated={quote(cursor)}"
            )
        return Response(200, body)
