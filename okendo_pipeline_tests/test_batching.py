"""Packing rows into batches by count and encoded size, and the concurrent send loop."""

import itertools
import json
import random
import threading
import time

import pytest

from okendo_pipeline.lib.destinations import (
    Batch,
    BatchResult,
    Item,
    batches,
    encode,
    send_all,
    split_joined,
)
from okendo_pipeline.lib.http import AuthError


def items(sizes: list[int], identity=lambda n: f"u{n}") -> list[Item]:
    return [Item(f"k{n}", identity(n), {"v": "x" * size}) for n, size in enumerate(sizes)]


def test_count_limit_with_uneven_tail():
    out = list(batches(items([1] * 160), max_count=75, max_bytes=10**6, overhead=10))
    assert [len(b.items) for b in out] == [75, 75, 10]
    assert [i.key for b in out for i in b.items] == [f"k{n}" for n in range(160)]


@pytest.mark.parametrize("seed", range(5))
def test_size_limit_holds_for_uneven_rows(seed):
    import random

    rng = random.Random(seed)
    rows = items([rng.randint(0, 900) for _ in range(300)])
    overhead, limit = len(b'{"users":[]}'), 4000
    out = list(batches(rows, max_count=1000, max_bytes=limit, overhead=overhead))
    for b in out:
        body = b'{"users":[' + b",".join(b.encoded) + b"]}"
        assert len(body) <= limit
        assert len(body) == overhead + b.size  # the running size is exact
        assert json.loads(body)["users"] == [i.payload for i in b.items]
    assert sum(len(b.items) for b in out) == 300
    # Greedy: a batch closes only when the next row would not fit.
    for b, nxt in itertools.pairwise(out):
        assert overhead + b.size + 1 + len(nxt.encoded[0]) > limit


def test_same_identity_never_twice_in_a_batch():
    rows = items([1] * 6, identity=lambda n: ["a", "b", "a", "c", "a", "a"][n])
    out = list(batches(rows, max_count=10, max_bytes=10**6, overhead=0, unique_identity=True))
    assert [[i.identity for i in b.items] for b in out] == [["a", "b"], ["a", "c"], ["a"], ["a"]]


def test_row_too_big_alone_names_the_row():
    with pytest.raises(ValueError, match="'k1' encodes to"):
        list(batches(items([1, 500]), max_count=10, max_bytes=100, overhead=10))


@pytest.mark.parametrize("seed", range(5))
def test_objects_joined_in_sql_split_only_past_the_byte_limit(seed):
    rng = random.Random(seed)
    objects = [encode({"k": n, "v": "é" * rng.randint(0, 300)}) for n in range(75)]
    keys = [f"k{n}" for n in range(75)]
    joined = b",".join(objects)
    sizes = [len(o) for o in objects]
    args = (keys, keys, sizes, joined)
    (whole,) = split_joined(*args, max_bytes=len(joined) + 2, overhead=2)
    assert whole.joined == joined and whole.row_keys() == keys
    parts = list(split_joined(*args, max_bytes=2_000, overhead=20))
    assert len(parts) > 1
    for part in parts:
        body = part.body(b'{"attributes":[', b"]}")
        assert len(body) <= 2_000 - 20 + len(b'{"attributes":[]}')
        assert [o["k"] for o in json.loads(body)["attributes"]] == [
            int(k[1:]) for k in part.row_keys()
        ]
        assert json.loads(part.operations_json) == part.row_keys()  # carried along, aligned
    assert [k for p in parts for k in p.row_keys()] == keys


def test_an_object_over_the_limit_alone_names_its_row():
    objects = [b'{"k":0}', b'{"k":"' + b"x" * 100 + b'"}']
    with pytest.raises(ValueError, match="'k1' encodes to 108 bytes"):
        list(split_joined(["k0", "k1"], ["k0", "k1"], [7, 108], b",".join(objects), 100, 2))


def test_encode_keeps_utf8():
    assert encode({"n": "Zoë"}) == '{"n":"Zoë"}'.encode()


def test_send_all_bounds_in_flight_and_returns_every_batch():
    in_flight, peak, lock = [0], [0], threading.Lock()

    def send(b: Batch) -> BatchResult:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.01)
        with lock:
            in_flight[0] -= 1
        return BatchResult(b)

    source = batches(items([1] * 50), max_count=3, max_bytes=10**6, overhead=0)
    results = list(send_all(source, send, concurrency=4))
    assert peak[0] <= 4 and peak[0] > 1
    assert sorted(o.key for _, r in results for o in r.outcomes) == sorted(
        f"k{n}" for n in range(50)
    )


def test_send_all_stops_on_auth_error():
    calls = []

    def send(b: Batch) -> BatchResult:
        calls.append(b)
        time.sleep(0.01)
        raise AuthError("bad key")

    source = batches(items([1] * 100), max_count=1, max_bytes=10**6, overhead=0)
    with pytest.raises(AuthError):
        list(send_all(source, send, concurrency=4))
    assert len(calls) <= 4  # no storm: nothing new starts after the first refusal
