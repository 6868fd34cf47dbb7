"""Erasure: ``okendo-pipeline erase --email`` leaves no trace of the address in the warehouse,
its file, the analysts' file or the landing files; both destinations remove the person by the
identity they were sent under; a later full refresh does not bring them back."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from okendo_pipeline.lib.erasure.addresses import (
    REDACTED,
    normalise,
    python_pattern,
    redact,
    salted_hash,
)
from okendo_pipeline.lib.erasure.landing import keep_line
from okendo_pipeline_tests.runs import run_refresh
from okendo_pipeline_tests.samples import envelope, resource, write_landing
from okendo_pipeline_tests.syncing import AS_OF, BRAZE_KEY, ITERABLE_KEY, sync

SETTINGS = {"BRAZE_EXTERNAL_ID": "shopify_customer_id", "ITERABLE_IDENTIFIER": "userId"}


# -- the rules ---------------------------------------------------------------------------------


def test_an_address_is_matched_whole_and_case_insensitively() -> None:
    pattern = python_pattern([normalise("  Bob@Shop.com ")])
    assert redact("write to BOB@shop.com.", pattern) == f"write to {REDACTED}."
    assert redact("bob@shop.com,bob@shop.com", pattern) == f"{REDACTED},{REDACTED}"
    for other in ("jimbob@shop.com", "bob@shop.com.au", "bob@shop.community"):
        assert redact(other, pattern) == other
    with pytest.raises(ValueError):
        normalise("not an address")
    assert salted_hash("a", "bob@shop.com") != salted_hash("b", "bob@shop.com")


def test_a_landing_line_goes_when_it_is_the_persons_and_is_redacted_when_it_quotes_them() -> None:
    keys = {"bob@shop.com"}
    pattern = python_pattern(sorted(keys))
    own = json.dumps(envelope("review", 1, reviewer={"email": " BOB@shop.com"}))
    assert keep_line(own, keys, pattern) == (None, "bob@shop.com")
    quoting = json.dumps(envelope("review", 2, body="ask Bob@Shop.com about it"))
    kept, key = keep_line(quoting, keys, pattern)
    assert key == "bob@shop.com" and "Bob@Shop.com" not in kept and REDACTED in kept
    assert json.loads(kept)["resource"]["body"] == f"ask {REDACTED} about it"
    assert keep_line('{"broken": "bob@shop.com"', keys, pattern) == (None, "bob@shop.com")
    other = json.dumps(envelope("review", 3))
    assert keep_line(other, keys, pattern) == (other, None)


# -- end to end --------------------------------------------------------------------------------


def traces(address: str, database: str, *folders: Path) -> list[str]:
    """Every place the address still shows: any column of any table (as text), and the bytes of
    every file below ``folders`` (gzip files opened), the DuckDB files themselves included."""
    found = []
    with duckdb.connect(database, read_only=True) as conn:
        tables = conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE'"
        ).fetchall()
        for schema, table in tables:
            n = conn.execute(
                f'select count(*) from "{schema}"."{table}" t where contains(lower(t::varchar), ?)',
                [address],
            ).fetchone()[0]
            if n:
                found.append(f"{schema}.{table}: {n} rows")
    needle = address.encode()
    for folder in folders:
        for path in folder.rglob("*"):
            if not path.is_file():
                continue
            data = path.read_bytes()
            if path.name.endswith(".gz"):
                data = gzip.decompress(data)
            if needle in data.lower():
                found.append(str(path))
    return found


def erase(database: str, landing: Path, *emails: str, env: dict[str, str]):
    """``okendo-pipeline erase`` in a new process, as an operator runs it."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ITERABLE_", "BRAZE_"))}
    base["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])  # this checkout's code
    args = [a for e in emails for a in ("--email", e)]
    return subprocess.run(
        [sys.executable, "-m", "okendo_pipeline.cli", "erase", *args,
         "--database", database, "--landing", str(landing)],
        env=base | env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def destination_env(fakes) -> dict[str, str]:
    return {
        **SETTINGS,
        "ITERABLE_API_KEY": ITERABLE_KEY,
        "ITERABLE_BASE_URL": fakes["iterable"][1],
        "BRAZE_API_KEY": BRAZE_KEY,
        "BRAZE_REST_ENDPOINT": fakes["braze"][1],
        "OKENDO_AS_OF": AS_OF,
    }


def pick_people(database: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """(key, Shopify id) of a customer with a Shopify id and events, and (key, None) of a
    guest with events."""
    with duckdb.connect(database, read_only=True) as conn:
        rows = conn.execute(
            """
            select p.customer_key, p.shopify_customer_id from marts.customer_profiles p
            where exists (select 1 from marts.customer_events e
                          where e.customer_key = p.customer_key)
            order by (p.shopify_customer_id is null), p.customer_key
            """
        ).fetchall()
    identified = next(r for r in rows if r[1])
    guest = next(r for r in rows if not r[1])
    return identified, guest


def snapshot(database: str) -> dict[str, set]:
    with duckdb.connect(database, read_only=True) as conn:
        return {
            t: set(conn.execute(f"select * exclude (email) from marts.{t}").fetchall())
            if t != "customer_profile_attributes"
            else set(conn.execute(f"select * from marts.{t}").fetchall())
            for t in ("customer_profiles", "customer_events", "customer_profile_attributes")
        }


def test_erase_leaves_no_trace_and_both_destinations_remove_the_person(
    built, fakes, tmp_path, analytics_for_the_test
) -> None:
    landing, db = built
    (iterable, iurl), (braze, burl) = fakes["iterable"], fakes["braze"]
    (person, shopify_id), (guest, _) = pick_people(db)
    # Another customer's review that quotes the address, and a broken line that holds it.
    other = resource("review", reviewId="quoting-1", body=f"Thanks to {person.upper()}!")
    write_landing(landing, "review", "quoting.jsonl", [
        envelope("review", "900000000001", res=other),
        f'{{"resourceType": "review", "resource": {{"reviewer": "{person}"',
    ])  # fmt: skip
    assert run_refresh(landing, db, AS_OF).success
    for dest, url in (("iterable", iurl), ("braze", burl)):
        report = sync(db, dest, url, env=SETTINGS)
        assert report is not None and report.status == "succeeded"
    assert f"userId:{shopify_id}" in iterable.users and f"email:{guest}" in iterable.users
    assert f"external_id:{shopify_id}" in braze.profiles and f"email:{guest}" in braze.profiles
    run_refresh(landing, db, AS_OF)  # publish the analysts' file with the sync history
    assert traces(person, db, landing, analytics_for_the_test.parent)

    env = destination_env(fakes)
    done = erase(db, landing, f"  {person.upper()} ", guest, "never@seen.example", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("address 1 (erasure ") and lines[0].endswith("): erased")
    assert lines[1].endswith("): erased")
    assert lines[2].endswith("not known to the pipeline (nothing to erase)")
    assert "iterable: 2 removed" in lines and "braze: 2 removed" in lines, lines
    assert person not in done.stdout.lower() and guest not in done.stdout.lower()

    for address in (person, guest):
        assert traces(address, db, landing, analytics_for_the_test.parent, tmp_path) == []
    assert iterable.forgets == [f"email:{guest}", f"userId:{shopify_id}"]
    assert not [k for k in iterable.users if k in (f"userId:{shopify_id}", f"email:{guest}")]
    assert not [e for e in iterable.events.values() if e.get("userId") == shopify_id]
    assert sorted(braze.deleted) == sorted([f"external_id:{shopify_id}", f"email:{guest}"])
    assert not [e for e in braze.events if e["_profile"] == f"external_id:{shopify_id}"]
    with duckdb.connect(db, read_only=True) as conn:
        log = conn.execute("select address_hash, completed_on from raw.erasures").fetchall()
        assert len(log) == 3 and all(done is not None for _, done in log)
        assert conn.execute("select count(*) from raw.erasure_pending").fetchone()[0] == 0
        quoted = conn.execute(
            "select resource ->> '$.body' from raw.current_resources where resource_id = ?",
            ["quoting-1"],
        ).fetchone()[0]
    assert quoted == f"Thanks to {REDACTED}!"  # the other customer's review stays

    # The next runs rebuild what the person touched; the same as a full refresh, which brings
    # nothing back; the destinations get nothing of them.
    assert run_refresh(landing, db, AS_OF).success
    incremental = snapshot(db)
    for dest, url in (("iterable", iurl), ("braze", burl)):
        assert sync(db, dest, url, env=SETTINGS).status == "succeeded"
    assert run_refresh(landing, db, AS_OF, full_refresh=True).success
    assert snapshot(db) == incremental
    fresh = str(tmp_path / "fresh.duckdb")  # and what a new warehouse builds from the landing
    assert run_refresh(landing, fresh, AS_OF).success
    assert snapshot(fresh) == incremental
    for address in (person, guest):
        assert traces(address, db, landing, analytics_for_the_test.parent) == []
    assert f"userId:{shopify_id}" not in iterable.users
    assert not [k for k in braze.profiles if k in (f"external_id:{shopify_id}", f"email:{guest}")]


def test_a_failed_removal_is_kept_and_the_next_erase_finishes_it(built, fakes) -> None:
    from okendo_fakes.server import Fault

    landing, db = built
    braze, burl = fakes["braze"]
    (person, _), _ = pick_people(db)
    sync(db, "braze", burl)
    braze.inject(Fault("status", status=503, times=None, path="/users/delete"))
    env = destination_env(fakes) | {"BRAZE_EXTERNAL_ID": "email"}
    first = erase(db, landing, person, env=env)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "braze: 0 removed; 1 left (ServerError (HTTP 503))" in first.stdout, first.stdout
    assert "NOT FINISHED" in first.stdout and person not in first.stdout
    assert f"external_id:{person}" in braze.profiles
    with duckdb.connect(db, read_only=True) as conn:
        assert conn.execute("select count(*) from raw.erasure_pending").fetchone()[0] == 1
        assert conn.execute("select completed_on from raw.erasures").fetchone()[0] is None

    braze.faults.clear()
    again = erase(db, landing, person, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "braze: 1 removed" in again.stdout and "iterable: nothing to remove" in again.stdout
    assert f"external_id:{person}" not in braze.profiles
    assert traces(person, db, landing) == []


def test_an_erasure_run_launched_on_an_instance_is_deleted_once_it_ends(built, tmp_path) -> None:
    """The UI's path: the run's config holds the addresses, so the cleanup sensor deletes the
    run (and its event log) once it has succeeded, or failed."""
    import dagster as dg

    from okendo_pipeline import settings
    from okendo_pipeline.definitions import defs

    landing, db = built
    (person, _), _ = pick_people(db)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OKENDO_DUCKDB_PATH", db)
        mp.setenv("OKENDO_LANDING_DIR", str(landing))
        settings.load.cache_clear()
        definitions = defs()
        settings.load.cache_clear()
    job = definitions.resolve_job_def("okendo_erasure")
    config = {"ops": {"erase_records": {"config": {"emails": [person]}}}}
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(run_config=config, instance=instance)
        assert result.success
        assert instance.get_run_by_id(result.run_id) is not None
        sensor = definitions.resolve_sensor_def("okendo_erasure_cleanup")
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name,
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=result.get_run_success_event(),
        )
        sensor(context)
        assert instance.get_run_by_id(result.run_id) is None
        assert not instance.all_logs(result.run_id)
    assert traces(person, db, landing) == []


def test_the_clients_remove_within_the_documented_limits(iterable_fake, braze_fake) -> None:
    """Braze: at most 50 identifiers of one kind per request (the fake refuses more); Iterable:
    one user per request, paced under 3/s so the fake's limiter never answers 429."""
    import requests

    from okendo_pipeline.defs.braze.resources import BrazeResource
    from okendo_pipeline.defs.iterable.resources import IterableResource

    braze, burl = braze_fake
    for n in range(60):
        braze.profiles[f"external_id:{n}"] = {"external_id": str(n)}
    braze.profiles["email:guest@shop.example"] = {"email": "guest@shop.example"}
    people = [("external_id", str(n)) for n in range(60)] + [("email", "guest@shop.example")]
    removals = list(BrazeResource(api_key=BRAZE_KEY, rest_endpoint=burl).remove_people(people))
    assert [r.error for r in removals] == [None] * 61 and not braze.profiles
    assert braze.count_requests("/users/delete") == 3  # 50 + 10 external ids, then 1 email
    too_many = requests.post(
        f"{burl}/users/delete", json={"external_ids": [str(n) for n in range(51)]},
        headers={"Authorization": f"Bearer {BRAZE_KEY}"}, timeout=5,
    )  # fmt: skip
    assert too_many.status_code == 400

    iterable, iurl = iterable_fake
    users = [("email", f"p{n}@shop.example") for n in range(7)]
    done = list(IterableResource(api_key=ITERABLE_KEY, base_url=iurl).remove_people(users))
    assert [r.error for r in done] == [None] * 7
    assert iterable.forgets == [f"email:p{n}@shop.example" for n in range(7)]
    assert [r.status for r in iterable.requests].count(429) == 0


def test_a_landing_file_keeps_every_other_byte(tmp_path: Path) -> None:
    """Only the lines holding the address change; the rest of the file, odd bytes and a last
    line without its newline included, stays byte for byte; gzip files stay gzip."""
    from okendo_pipeline.lib.erasure.landing import erase_landing

    keys = {"bob@shop.com"}
    own = json.dumps(envelope("review", 1, reviewer={"email": "Bob@Shop.com"})).encode()
    quoting = json.dumps(envelope("review", 2, body="ask BOB@shop.com")).encode()
    other = json.dumps(envelope("review", 3)).encode()
    folder = tmp_path / "landing" / "review"
    folder.mkdir(parents=True)
    plain = other + b"\n\xff not utf-8\n" + own + b"\n" + quoting + b"\n" + other
    (folder / "a.jsonl").write_bytes(plain)
    (folder / "b.jsonl.gz").write_bytes(gzip.compress(own + b"\n" + other + b"\n"))
    (folder / "c.jsonl").write_bytes(other + b"\n")
    found = erase_landing(tmp_path / "landing", keys, python_pattern(sorted(keys)), set())
    assert found.files_scanned == 3 and found.keys == keys
    assert (found.lines_removed, found.lines_redacted) == (2, 1)
    redacted = quoting.replace(b"BOB@shop.com", REDACTED.encode())
    assert (folder / "a.jsonl").read_bytes() == (
        other + b"\n\xff not utf-8\n" + redacted + b"\n" + other
    )
    assert gzip.decompress((folder / "b.jsonl.gz").read_bytes()) == other + b"\n"
    assert (folder / "c.jsonl").read_bytes() == other + b"\n"
    lines = {r.rel: r.lines for r in found.rewritten}
    assert lines == {"review/a.jsonl": 4, "review/b.jsonl.gz": 1}
    from okendo_pipeline.lib.okendo.loader import file_hash

    assert all(r.content_hash == file_hash(r.path) for r in found.rewritten)  # the manifest's
