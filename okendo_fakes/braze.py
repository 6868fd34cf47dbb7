"""A fake Braze workspace behind ``/users/track`` (as Braze documents it).

Reproduces: Bearer auth (401); the object cap, 75 combined by default or per array for legacy
accounts (400 ``Max Input Length Exceeded``); 413 above 4 MB; per-object validation answered as
201 with ``errors[{type, input_array, index}]`` while the other objects are processed; a fixed
window of 3,000 requests per 3 s with ``X-RateLimit-Limit/Remaining/Reset`` (epoch seconds) on
every response; ``null`` removes an attribute; every event stored as new (no dedup), so
duplicates are visible; optional 202 ``queued`` through the ``queued`` fault; ``/users/delete``
(50 identifiers of one kind, its own 20,000/min window): the profile and its events go;
``/users/identify`` (``emails_to_identify``, same window): an email-only profile merges into the
identified one, or takes its external id.
"""

import time
from datetime import datetime
from typing import Any

from okendo_fakes.server import FakeApp, FixedWindow, Response, json_body

# Braze's documented figures, stated here on their own (never imported from the client, so a
# wrong limit in the client cannot pass on both sides): /users/track takes 3,000 requests per 3
# seconds per workspace, at most 75 objects combined per request, bodies up to 4 MB and string
# values up to 255 characters.
TRACK_PATH = "/users/track"
RATE_LIMIT = (3000, 3.0)
# /users/delete (and the other user endpoints) share 20,000 requests per minute, apart from
# /users/track; at most 50 identifiers of one kind per request.
DELETE_PATH = "/users/delete"
IDENTIFY_PATH = "/users/identify"
USER_ENDPOINTS_LIMIT = (20_000, 60.0)
MAX_DELETE_IDENTIFIERS = 50
DELETE_KINDS = ("external_ids", "user_aliases", "braze_ids", "email_addresses", "phone_numbers")
MAX_OBJECTS = 75
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_STRING_LENGTH = 255

IDENTIFIERS = ("external_id", "user_alias", "braze_id", "email", "phone")
ARRAYS = ("attributes", "events", "purchases")


def parse_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def bad_strings(value: Any) -> bool:
    """True when a string (or one inside a list/object) is over Braze's 255 characters."""
    if isinstance(value, str):
        return len(value) > MAX_STRING_LENGTH
    if isinstance(value, list):
        return any(bad_strings(v) for v in value)
    if isinstance(value, dict):
        return any(bad_strings(v) for v in value.values())
    return False


class FakeBraze(FakeApp):
    name = "braze"

    def __init__(
        self,
        *,
        api_keys: frozenset[str] = frozenset({"braze-test-key"}),
        max_objects: int = MAX_OBJECTS,
        per_array: bool = False,
        rate_limit: tuple[int, float] | None = RATE_LIMIT,
        max_body_bytes: int = MAX_BODY_BYTES,
        blocked_external_ids: frozenset[str] = frozenset(),
        seed: int = 0,
        record_bodies: bool = False,
    ) -> None:
        super().__init__(seed=seed, record_bodies=record_bodies)
        self.api_keys = api_keys
        self.max_objects = max_objects
        self.per_array = per_array
        self.window = FixedWindow(*rate_limit) if rate_limit else None
        self.user_window = FixedWindow(*USER_ENDPOINTS_LIMIT) if rate_limit else None
        self.max_body_bytes = max_body_bytes
        self.blocked_external_ids = set(blocked_external_ids)
        self.clear()

    def clear(self) -> None:
        self.profiles: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.deleted: list[str] = []
        self.identified: list[str] = []

    def state(self) -> dict[str, Any]:
        return {
            "profiles": self.profiles,
            "events": self.events,
            "deleted": self.deleted,
            "identified": self.identified,
        }

    # -- helpers -------------------------------------------------------------------------------

    def limit_headers(self, path: str = TRACK_PATH) -> tuple[bool, dict[str, str]]:
        window = self.window if path == TRACK_PATH else self.user_window
        if window is None:
            return True, {}
        allowed, remaining, reset = window.take()
        return allowed, {
            "X-RateLimit-Limit": str(window.limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(int(reset)),
        }

    def rate_limited(self, path: str) -> Response:
        window = self.window.window if self.window else 1.0
        limit = self.window.limit if self.window else 0
        now = time.time()
        return Response(
            429,
            {"message": "API rate limit exceeded"},
            {
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int(now - now % window + window)),
            },
        )

    def identity_problem(self, obj: dict[str, Any]) -> str | None:
        present = [k for k in IDENTIFIERS if obj.get(k) not in (None, "")]
        if not present:
            return "Missing external_id, user_alias, braze_id, email or phone"
        ext = obj.get("external_id")
        if ext is not None and not isinstance(ext, str):
            return "Invalid 'external_id': must be a string"
        if ext in self.blocked_external_ids:
            return "provided external_id is blacklisted and disallowed"
        return None

    @staticmethod
    def profile_key(obj: dict[str, Any]) -> str:
        for k in IDENTIFIERS:
            if obj.get(k) not in (None, ""):
                return f"{k}:{obj[k]}"
        raise AssertionError("validated before")

    def attribute_problem(self, obj: dict[str, Any]) -> str | None:
        for key, value in obj.items():
            if key in IDENTIFIERS:
                continue
            if len(key) > MAX_STRING_LENGTH:
                return f"Attribute key '{key[:40]}...' is longer than 255 characters"
            if bad_strings(value):
                return f"Value of '{key}' is longer than 255 characters"
        return None

    @staticmethod
    def event_problem(obj: dict[str, Any]) -> str | None:
        if not isinstance(obj.get("name"), str) or not obj["name"]:
            return "Event is missing 'name'"
        if not parse_time(obj.get("time")):
            return "Event has an invalid 'time'"
        props = obj.get("properties", {})
        if not isinstance(props, dict):
            return "Event 'properties' must be an object"
        for key, value in props.items():
            if not key or len(key) > MAX_STRING_LENGTH or key.startswith("$"):
                return f"Invalid event property name '{key[:40]}'"
            if bad_strings(value):
                return f"Event property '{key}' is longer than 255 characters"
        return None

    def delete_users(self, body: dict[str, Any], headers: dict[str, str]) -> Response:
        """Braze's ``/users/delete``: one kind of identifier, at most 50; an email (or phone)
        comes with a ``prioritization`` and deletes nothing when several profiles match it."""
        kinds = [k for k in DELETE_KINDS if k in body]
        if len(kinds) != 1 or not isinstance(body[kinds[0]], list):
            return Response(400, {"message": "provide exactly one kind of identifier"}, headers)
        kind, values = kinds[0], body[kinds[0]]
        if len(values) > MAX_DELETE_IDENTIFIERS:
            return Response(400, {"message": "Max Input Length Exceeded"}, headers)
        if kind not in ("external_ids", "email_addresses"):
            return Response(400, {"message": f"{kind} are not supported by this fake"}, headers)
        deleted = 0
        for value in values:
            if kind == "external_ids":
                if not isinstance(value, str):
                    return Response(400, {"message": "external_ids must be strings"}, headers)
                matches = (
                    [f"external_id:{value}"] if f"external_id:{value}" in self.profiles else []
                )
            else:
                if not isinstance(value, dict) or not isinstance(value.get("email"), str):
                    return Response(400, {"message": "email_addresses need an email"}, headers)
                if not value.get("prioritization"):
                    return Response(400, {"message": "email_addresses need a prioritization"})
                matches = self.profiles_with_email(value["email"], value["prioritization"])
            if len(matches) != 1:
                continue  # nobody, or several profiles for the prioritization: nothing deleted
            key = matches[0]
            del self.profiles[key]  # Braze nulls the profile; gone, here
            self.events = [e for e in self.events if e["_profile"] != key]
            self.deleted.append(key)
            deleted += 1
        return Response(201, {"deleted": deleted, "message": "success"}, headers)

    def identify(self, body: dict[str, Any], headers: dict[str, str]) -> Response:
        """Braze's ``/users/identify`` with ``emails_to_identify`` (at most 50): the email-only
        profile the prioritization picks is merged into the profile with the external id (its
        attributes where the target has none, its events), then removed; with no such profile
        it takes the external id. An email with no email-only profile changes nothing."""
        items = body.get("emails_to_identify")
        if not isinstance(items, list) or not items:
            return Response(400, {"message": "emails_to_identify must be a non-empty array"})
        if len(items) > MAX_DELETE_IDENTIFIERS:
            return Response(400, {"message": "Max Input Length Exceeded"}, headers)
        processed = 0
        for item in items:
            if not isinstance(item, dict) or not all(
                isinstance(item.get(k), str) for k in ("external_id", "email")
            ):
                return Response(400, {"message": "each item needs external_id and email"})
            if not item.get("prioritization"):
                return Response(400, {"message": "each item needs a prioritization"}, headers)
            found = [
                k for k in self.profiles_with_email(item["email"], item["prioritization"])
                if k.startswith("email:")
            ]  # fmt: skip
            if len(found) != 1:
                continue
            source, target = found[0], f"external_id:{item['external_id']}"
            merged = self.profiles.pop(source)
            profile = self.profiles.setdefault(target, {"external_id": item["external_id"]})
            for key, value in merged.items():
                profile.setdefault(key, value)
            for event in self.events:
                if event["_profile"] == source:
                    event["_profile"] = target
            self.identified.append(f"{source}->{target}")
            processed += 1
        return Response(201, {"aliases_processed": processed, "message": "success"}, headers)

    def profiles_with_email(self, email: str, prioritization: list[str]) -> list[str]:
        """The profiles an email identifier picks: ``unidentified`` (email-only) or
        ``identified`` (with an external id) first as asked, then the most recently updated."""
        email = email.lower()
        unidentified = [k for k in self.profiles if k.lower() == f"email:{email}"]
        identified = [
            k for k, p in self.profiles.items()
            if k.startswith("external_id:") and str(p.get("email", "")).lower() == email
        ]  # fmt: skip
        for rule in prioritization:
            found = {"unidentified": unidentified, "identified": identified}.get(rule, [])
            if found:
                return found[-1:] if "most_recently_updated" in prioritization else found
        return []

    # -- route ---------------------------------------------------------------------------------

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> Response:
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.api_keys:
            return Response(401, {"message": "Invalid API key"})
        if path not in (TRACK_PATH, DELETE_PATH, IDENTIFY_PATH):
            return Response(404, {"message": f"no route {path}"})
        allowed, limit_headers = self.limit_headers(path)
        if not allowed:
            return self.rate_limited(path)
        if len(body) > self.max_body_bytes:
            return Response(413, {"message": "Payload too large"}, limit_headers)
        parsed, problem = json_body(body)
        if problem or not isinstance(parsed, dict):
            return Response(400, {"message": problem or "body must be an object"}, limit_headers)
        if path == DELETE_PATH:
            with self.lock:
                return self.delete_users(parsed, limit_headers)
        if path == IDENTIFY_PATH:
            with self.lock:
                return self.identify(parsed, limit_headers)
        arrays = {a: parsed.get(a) or [] for a in ARRAYS}
        if any(not isinstance(v, list) for v in arrays.values()):
            return Response(400, {"message": "attributes/events/purchases must be arrays"})
        sizes = [len(v) for v in arrays.values()]
        if not sum(sizes):
            return Response(
                400,
                {"message": "Valid data must be provided in the 'attributes', 'events', "
                 "or 'purchases' fields."},
                limit_headers,
            )  # fmt: skip
        too_many = (
            max(sizes) > self.max_objects if self.per_array else sum(sizes) > self.max_objects
        )
        if too_many:
            return Response(400, {"message": "Max Input Length Exceeded"}, limit_headers)

        errors: list[dict[str, Any]] = []
        processed = {"attributes": 0, "events": 0, "purchases": 0}
        with self.lock:
            for index, obj in enumerate(arrays["attributes"]):
                problem = (
                    self.identity_problem(obj) or self.attribute_problem(obj)
                    if isinstance(obj, dict)
                    else "Attributes object must be an object"
                )
                if problem:
                    errors.append({"type": problem, "input_array": "attributes", "index": index})
                    continue
                profile = self.profiles.setdefault(self.profile_key(obj), {})
                for key, value in obj.items():
                    if key in IDENTIFIERS:
                        profile.setdefault(key, value)
                    elif value is None:
                        profile.pop(key, None)
                    else:
                        profile[key] = value
                processed["attributes"] += 1
            for index, obj in enumerate(arrays["events"]):
                problem = (
                    self.identity_problem(obj) or self.event_problem(obj)
                    if isinstance(obj, dict)
                    else "Event object must be an object"
                )
                if problem:
                    errors.append({"type": problem, "input_array": "events", "index": index})
                    continue
                key = self.profile_key(obj)
                self.profiles.setdefault(key, {key.split(":", 1)[0]: key.split(":", 1)[1]})
                self.events.append({**obj, "_profile": key})
                processed["events"] += 1
            if arrays["purchases"]:
                errors.extend(
                    {"type": "purchases are not supported by this fake", "input_array":
                     "purchases", "index": i} for i in range(len(arrays["purchases"]))
                )  # fmt: skip
        reply: dict[str, Any] = {"message": "success"}
        for array, count in processed.items():
            if arrays[array]:
                reply[f"{array}_processed"] = count
        if errors:
            reply["errors"] = errors
        return Response(201, reply, limit_headers)
