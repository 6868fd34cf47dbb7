"""A fake Iterable project behind ``users/bulkUpdate`` and ``events/trackBulk``, as documented.

Reproduces: ``Api-Key``/``Api_Key`` auth (401 BadApiKey); the 4 MB body cap (400 BatchTooLarge);
per-endpoint leaky-bucket limits with 429 RateLimitExceeded; field types fixed by first write,
mismatches in ``failedUpdates.invalidData*``; ``createNewFields`` off -> ``filteredOutFields``;
email/userId syntax -> ``invalidEmails``/``invalidUserIds``; ``users/forget`` (3/s): the
user and their events are deleted and the identity is forgotten (later updates fail);
``users/merge`` (50/s): source into destination, or the source renamed; disallowed event
names; events upserted by ``id``; failures reported by identifier only, never by index.
"""

import re
import uuid
from typing import Any

from okendo_fakes.server import FakeApp, LeakyBucket, Response, json_body

# Iterable's documented figures, stated here on their own (never imported from the client, so a
# wrong limit in the client cannot pass on both sides): Swagger "Iterable API 1.8" gives 5
# requests/s per project for users/bulkUpdate and 10/s for events/trackBulk, a 4 MB body cap,
# and event ids of at most 512 bytes; users/forget (GDPR) takes 3 requests/s per project.
BULK_UPDATE_PATH = "/api/users/bulkUpdate"
TRACK_BULK_PATH = "/api/events/trackBulk"
FORGET_PATH = "/api/users/forget"
MERGE_PATH = "/api/users/merge"
ROUTES = (BULK_UPDATE_PATH, TRACK_BULK_PATH, FORGET_PATH, MERGE_PATH)
# users/merge: 50 requests/s per API key.
RATE_LIMITS = {BULK_UPDATE_PATH: 5.0, TRACK_BULK_PATH: 10.0, FORGET_PATH: 3.0, MERGE_PATH: 50.0}
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_EVENT_ID_BYTES = 512

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ITERABLE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2}( [+-]\d{2}:\d{2})?)?$")


def value_type(value: Any) -> str | None:
    """The Iterable type a first write would fix; None for null (fits any type)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "date" if ITERABLE_DATE.match(value) else "string"
    if isinstance(value, dict):
        return "object"
    return "array"


def fits(registered: str, value: Any) -> bool:
    kind = value_type(value)
    if kind is None or kind == registered:
        return True
    # A long fits a double field; a date-shaped string fits a string field.
    return (registered, kind) in {("double", "long"), ("string", "date")}


def bad_user_id(user_id: Any) -> bool:
    return (
        not isinstance(user_id, str)
        or not user_id
        or user_id != user_id.rstrip()
        or not user_id.isascii()
        or not user_id.isprintable()
    )


class FakeIterable(FakeApp):
    name = "iterable"

    def __init__(
        self,
        *,
        api_keys: frozenset[str] = frozenset({"iterable-test-key"}),
        limits: dict[str, float] | None = RATE_LIMITS,
        create_new_fields: bool = True,
        known_fields: frozenset[str] = frozenset(),
        disallowed_event_names: frozenset[str] = frozenset(),
        forgotten: frozenset[str] = frozenset(),
        events_create_users: bool = True,
        max_body_bytes: int = MAX_BODY_BYTES,
        seed: int = 0,
        record_bodies: bool = False,
    ) -> None:
        super().__init__(seed=seed, record_bodies=record_bodies)
        self.api_keys = api_keys
        self.buckets = {p: LeakyBucket(r) for p, r in (limits or {}).items()}
        self.create_new_fields = create_new_fields
        self.known_fields = set(known_fields)
        self.disallowed_event_names = set(disallowed_event_names)
        self.forgotten = set(forgotten)
        self.events_create_users = events_create_users
        self.max_body_bytes = max_body_bytes
        self.clear()

    def clear(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.field_types: dict[str, str] = {}
        self.events: dict[str, dict[str, Any]] = {}
        self.event_writes = 0
        self.forgets: list[str] = []
        self.merges: list[str] = []

    def state(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "field_types": self.field_types,
            "events": self.events,
            "event_writes": self.event_writes,
            "forgets": self.forgets,
            "merges": self.merges,
            "forgotten": sorted(self.forgotten),
        }

    def rate_limited(self, path: str) -> Response:
        return Response(429, {"msg": "Exceeded rate limit.", "code": "RateLimitExceeded"})

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def error(status: int, code: str, msg: str) -> Response:
        return Response(status, {"msg": msg, "code": code, "params": None})

    @staticmethod
    def user_key(entry: dict[str, Any]) -> tuple[str, str] | None:
        """("email", value) or ("userId", value); emails compare case-insensitively."""
        if isinstance(entry.get("email"), str):
            return "email", entry["email"].lower()
        if "userId" in entry:
            return "userId", entry["userId"]
        return None

    def identity_failure(self, kind: str, value: Any) -> str | None:
        """The failedUpdates list this identifier belongs in, if any."""
        suffix = "Emails" if kind == "email" else "UserIds"
        if kind == "email" and not EMAIL.match(value):
            return f"invalid{suffix}"
        if kind == "userId" and bad_user_id(value):
            return f"invalid{suffix}"
        if value in self.forgotten:
            return f"forgotten{suffix}"
        return None

    # -- routes --------------------------------------------------------------------------------

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> Response:
        key = headers.get("api-key") or headers.get("api_key")
        if key not in self.api_keys:
            return self.error(401, "BadApiKey", "Invalid API key")
        if path not in ROUTES:
            return self.error(404, "NotFound", f"no route {path}")
        bucket = self.buckets.get(path)
        if bucket is not None and not bucket.allow():
            return self.rate_limited(path)
        if len(body) > self.max_body_bytes:
            return self.error(400, "BatchTooLarge", f"request over {self.max_body_bytes} bytes")
        parsed, problem = json_body(body)
        if problem:
            return self.error(400, "BadJsonBody", problem)
        with self.lock:
            if path == BULK_UPDATE_PATH:
                return self.bulk_update(parsed)
            if path == FORGET_PATH:
                return self.forget(parsed)
            if path == MERGE_PATH:
                return self.merge(parsed)
            return self.track_bulk(parsed)

    def bulk_update(self, body: Any) -> Response:
        users = body.get("users") if isinstance(body, dict) else None
        if not isinstance(users, list):
            return self.error(400, "BadParams", "users is required and must be an array")
        create = body.get("createNewFields", self.create_new_fields)
        failed: dict[str, list[str]] = {}
        filtered: set[str] = set()
        success = 0
        for n, entry in enumerate(users):
            who = self.user_key(entry) if isinstance(entry, dict) else None
            if who is None:
                return self.error(400, "BadParams", f"users[{n}] has no email or userId")
            kind, value = who
            original = entry.get(kind)
            fields = entry.get("dataFields") or {}
            problem = self.identity_failure(kind, value)
            if problem is None and not isinstance(fields, dict):
                problem = "invalidDataEmails" if kind == "email" else "invalidDataUserIds"
            if problem is None:
                accepted = {}
                for name, val in fields.items():
                    if (
                        name not in self.field_types
                        and not create
                        and name not in self.known_fields
                    ):
                        filtered.add(name)
                        continue
                    accepted[name] = val
                if any(
                    n in self.field_types and not fits(self.field_types[n], v)
                    for n, v in accepted.items()
                ):
                    problem = "invalidDataEmails" if kind == "email" else "invalidDataUserIds"
            if problem is not None:
                failed.setdefault(problem, []).append(original)
                continue
            for name, val in accepted.items():
                if name not in self.field_types and value_type(val) is not None:
                    self.field_types[name] = value_type(val)  # type: ignore[assignment]
            self.users.setdefault(f"{kind}:{value}", {kind: original}).update(accepted)
            success += 1
        return Response(
            200,
            {
                "successCount": success,
                "failCount": len(users) - success,
                "failedUpdates": failed,
                "filteredOutFields": sorted(filtered),
                "createdFields": [],
            },
        )

    def forget(self, body: Any) -> Response:
        """Delete the user (by email or userId, not both) and every event under them; the
        identity is then forgotten: later updates and events for it fail."""
        who = self.user_key(body) if isinstance(body, dict) else None
        if who is None or ("email" in body and "userId" in body):
            return self.error(400, "BadParams", "provide an email or a userId (but not both)")
        kind, value = who
        self.users.pop(f"{kind}:{value}", None)
        for event_id in [
            i for i, ev in self.events.items() if self.user_key(ev) == (kind, value)
        ]:  # fmt: skip
            del self.events[event_id]
        self.forgotten.add(value)
        self.forgets.append(f"{kind}:{value}")
        return Response(200, {"msg": "", "code": "Success", "params": None})

    def merge(self, body: Any) -> Response:
        """Merge the source user into the destination user, as Iterable's merge API documents:
        the destination gets the source's events and the fields it lacks (on a conflict the
        destination's value stays), then the source is deleted; with no destination user the
        source simply takes the destination's identifier."""
        if not isinstance(body, dict):
            return self.error(400, "BadParams", "body must be an object")
        sources = [("email", body.get("sourceEmail")), ("userId", body.get("sourceUserId"))]
        targets = [
            ("email", body.get("destinationEmail")), ("userId", body.get("destinationUserId"))
        ]  # fmt: skip
        source = [(k, v) for k, v in sources if isinstance(v, str) and v]
        target = [(k, v) for k, v in targets if isinstance(v, str) and v]
        if len(source) != 1 or len(target) != 1:
            return self.error(400, "BadParams", "one source and one destination identifier")
        (skind, svalue), (tkind, tvalue) = source[0], target[0]
        skey = f"{skind}:{svalue.lower() if skind == 'email' else svalue}"
        tkey = f"{tkind}:{tvalue.lower() if tkind == 'email' else tvalue}"
        if skey not in self.users:
            return self.error(400, "NotFound", "source user does not exist")
        merged = self.users.pop(skey)
        user = self.users.setdefault(tkey, {tkind: tvalue})
        for name, value in merged.items():
            user.setdefault(name, value)
        for event in self.events.values():
            if self.user_key(event) == (skind, skey.split(":", 1)[1]):
                event.pop(skind, None)
                event[tkind] = tvalue
        self.merges.append(f"{skey}->{tkey}")
        return Response(200, {"msg": "", "code": "Success", "params": None})

    def track_bulk(self, body: Any) -> Response:
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list):
            return self.error(400, "BadParams", "events is required and must be an array")
        for n, ev in enumerate(events):
            if not isinstance(ev, dict) or not isinstance(ev.get("eventName"), str):
                return self.error(400, "BadParams", f"events[{n}].eventName is required")
            if len(str(ev.get("id", "")).encode()) > MAX_EVENT_ID_BYTES:
                return self.error(400, "BadParams", f"events[{n}].id is over 512 bytes")
            created = ev.get("createdAt")
            if created is not None and (not isinstance(created, int) or isinstance(created, bool)):
                return self.error(400, "BadParams", f"events[{n}].createdAt is not an integer")
        failed: dict[str, list[str]] = {}
        disallowed: set[str] = set()
        success = 0
        for ev in events:
            who = self.user_key(ev)
            if who is None:
                failed.setdefault("invalidEmails", []).append("")
                continue
            kind, value = who
            problem = self.identity_failure(kind, value)
            unknown = f"{kind}:{value}" not in self.users
            if problem is None and not self.events_create_users and unknown:
                problem = "notFoundEmails" if kind == "email" else "notFoundUserIds"
            if problem is not None:
                failed.setdefault(problem, []).append(ev.get(kind))
                continue
            if ev["eventName"] in self.disallowed_event_names:
                disallowed.add(ev["eventName"])
                continue
            event_id = ev.get("id") or uuid.UUID(int=self.rng.getrandbits(128)).hex
            self.events[event_id] = {**ev, "id": event_id}
            self.event_writes += 1
            self.users.setdefault(f"{kind}:{value}", {kind: ev.get(kind)})
            success += 1
        return Response(
            200,
            {
                "successCount": success,
                "failCount": len(events) - success,
                "failedUpdates": failed,
                "disallowedEventNames": sorted(disallowed),
                "filteredOutFields": [],
                "createdFields": [],
            },
        )
