"""Incremental builds end exactly where a full refresh of the same landing folder does.

The generator's output is fed in shuffled slices (so versions of one resource, a tier change
and its later tier, a nudge's orders, land in different runs and out of sequence order), with
lines delivered twice across slices, an update and a delete arriving late, and the day turning
between slices; a run after each slice. Then one full build of the final folder into a new
warehouse, and the marts are compared row for row.
"""

import json
import random
from collections import Counter
from datetime import date
from pathlib import Path

import duckdb

from okendo_pipeline.defs.common.resources import WarehouseResource
from okendo_pipeline.lib import dbt_project, incremental
from okendo_pipeline.lib.okendo.generator.generate import generate
from okendo_pipeline_tests.runs import (
    dbt_cli,
    dbt_workers,
    land_another_review,
    run_refresh,
    running,
)
from okendo_pipeline_tests.syncing import rows

MARTS = ("customer_profiles", "customer_profile_attributes", "customer_events")


def parsed(line: str) -> dict | None:
    """An envelope, or None for the broken lines the generator writes on purpose."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) and isinstance(value.get("resource"), dict) else None


def differences(a: str, b: str) -> dict[str, int]:
    """Rows of each mart that one warehouse has and the other has not, both ways."""
    with duckdb.connect() as conn:
        conn.execute(f"attach '{a}' as a (read_only)")
        conn.execute(f"attach '{b}' as b (read_only)")
        out = {}
        for mart in MARTS:
            cols = (
                "* exclude (properties), properties::varchar" if mart == "customer_events" else "*"
            )
            n = conn.execute(
                f"select count(*) from ((select {cols} from a.marts.{mart} except all "
                f"select {cols} from b.marts.{mart}) union all (select {cols} from b.marts.{mart} "
                f"except all select {cols} from a.marts.{mart}))"
            ).fetchone()[0]
            out[mart] = n
        return out


# The resource types of the two last slices, one each: their builds leave out the intermediate
# models those types do not reach.
ONE_TYPE_SLICES = ("review", "loyalty_earning_transaction")


def sliced(generated: Path) -> list[list[tuple[str, str]]]:
    """The generator's output for 300 customers as four shuffled slices of (folder, line):
    200 lines delivered again in a later slice, a rename and a delete arriving in the fourth;
    then two slices of 40 lines of one resource type each (``ONE_TYPE_SLICES``)."""
    generate(generated, 300, seed=5, as_of=date(2026, 6, 1))
    lines = [
        (path.parent.name, line)
        for path in sorted(generated.glob("*/*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    rng = random.Random(11)
    rng.shuffle(lines)
    late = [[line for line in lines if line[0] == kind][:40] for kind in ONE_TYPE_SLICES]
    lines = [line for line in lines if not any(line in part for part in late)]
    slices = [lines[i::4] for i in range(4)]
    slices[2] += rng.sample(slices[0], 200)  # delivered again, in a later run
    # Late: a customer renamed, and a review deleted, after their records were built.
    envelopes = [e for _, line in lines if (e := parsed(line)) and e.get("topic") != "delete"]
    customer = next(e for e in envelopes if e.get("resourceType") == "customer")
    review = next(e for e in envelopes if e.get("resourceType") == "review")
    renamed = customer | {"topic": "update", "sequenceNumber": "9" * 12}
    renamed["resource"] = customer["resource"] | {"givenName": "Late"}
    deleted = {**review, "topic": "delete", "sequenceNumber": "9" * 12}
    slices[3] += [("customer", json.dumps(renamed)), ("review", json.dumps(deleted))]
    return slices + late


def land(landing: Path, n: int, part: list[tuple[str, str]]) -> str:
    """Publish slice ``n``; returns the run's ``as_of`` (the day turns after two slices)."""
    for resource_type, line in part:
        folder = landing / resource_type
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f"slice-{n}.jsonl").open("a") as f:
            f.write(line + "\n")
    return "2026-06-01" if n < 2 else "2026-06-02"


def test_incremental_runs_equal_one_full_refresh(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    database = str(tmp_path / "incremental.duckdb")
    for n, part in enumerate(sliced(tmp_path / "generated")):
        as_of = land(landing, n, part)
        assert run_refresh(landing, database, as_of).success

    full = str(tmp_path / "full.duckdb")
    assert run_refresh(landing, full, "2026-06-02").success
    assert differences(database, full) == dict.fromkeys(MARTS, 0)

    with duckdb.connect(database, read_only=True) as conn:
        builds = conn.execute(
            "select full_refresh, reason, left_out from raw.model_builds order by finished_at"
        ).fetchall()
        profiles = conn.execute("select count(*) from marts.customer_profiles").fetchone()[0]
    assert [b[0] for b in builds] == [True, False, True, False, False, False]
    assert builds[2][1] == "as_of changed (2026-06-01 -> 2026-06-02)"
    assert profiles > 300
    # Slices of every type rebuild every model; a slice of one type leaves out the models it
    # cannot reach (the reviews' loyalty models, the transactions' review models).
    feeds = dbt_project.intermediate_feeds()
    assert builds[1][2] == builds[3][2] == []
    for (_, _, skipped), kind in zip(builds[4:], ONE_TYPE_SLICES, strict=True):
        assert skipped == list(incremental.left_out(feeds, frozenset({kind})))
    assert "int_loyalty_members_aggregated_to_customers" in builds[4][2]
    assert "int_reviews_aggregated_to_customers" in builds[5][2]
    assert "int_customer_keys_unioned" not in builds[4][2] + builds[5][2]


PLAN_ROWS = {
    "outbox_profiles": "* exclude (run_id, profile_attributes, old_attributes), "
    "profile_attributes::varchar, old_attributes::varchar",
    "outbox_events": "* exclude (run_id, properties), properties::varchar",
}


def plan_rows(database: str, destination: str) -> dict[str, list[tuple]]:
    """The destination's current plan, without its run id."""
    with duckdb.connect(database, read_only=True) as conn:
        return {
            table: sorted(
                conn.execute(
                    f"select {cols} from sync.{table} where destination = ?", [destination]
                ).fetchall(),
                key=repr,
            )
            for table, cols in PLAN_ROWS.items()
        }


def held(fake: object) -> tuple[dict[str, dict], Counter]:
    """What a fake holds: each profile's values that are set (Iterable keeps a null it was
    sent, Braze removes the attribute; a first send carries no nulls), and how many times it
    holds each occurrence: (event id) at Iterable, (profile, name, time) at Braze."""
    if hasattr(fake, "users"):
        profiles = fake.users
        events = Counter(fake.events.keys())  # keyed by id: a resend would replace, not add
    else:
        profiles = fake.profiles
        events = Counter((e["_profile"], e["name"], e["time"]) for e in fake.events)
    values = {k: {f: v for f, v in p.items() if v is not None} for k, p in profiles.items()}
    return values, events


def test_incremental_syncs_leave_each_destination_as_a_full_refresh_would(
    tmp_path: Path, fakes
) -> None:
    """A plan after an incremental build compares only the customers rebuilt since the
    destination's last run; it must find what comparing every customer finds (a dry run, which
    always compares everything, on the same state), and the destinations must end up holding
    what one full refresh sends to new ones."""
    from okendo_fakes.braze import FakeBraze
    from okendo_fakes.iterable import FakeIterable
    from okendo_fakes.server import FakeServer
    from okendo_pipeline_tests.syncing import sync

    landing = tmp_path / "landing"
    incremental = str(tmp_path / "incremental.duckdb")
    scopes: dict[str, list[str]] = {"iterable": [], "braze": []}
    unguarded = {"OKENDO_SYNC_MAX_CHANGE_SHARE": "1"}  # each slice changes a quarter of the data
    for n, part in enumerate(sliced(tmp_path / "generated")):
        as_of = land(landing, n, part)
        assert run_refresh(landing, incremental, as_of).success
        for dest, (_, url) in fakes.items():
            sync(incremental, dest, None, dry_run=True, env={"OKENDO_AS_OF": as_of, **unguarded})
            whole = plan_rows(incremental, dest)
            report = sync(incremental, dest, url, env={"OKENDO_AS_OF": as_of, **unguarded})
            assert report is not None and report.status == "succeeded"
            assert plan_rows(incremental, dest) == whole, (n, dest, report.plan.scope)
            scopes[dest].append(report.plan.scope)
    for dest, found in scopes.items():
        assert found[0] == "every customer: the destination's first run", dest
        assert found[1].endswith("rebuilt or failed since the last run"), dest
        assert found[2] == "every customer: a full build ran since the last run", dest
        assert found[3].endswith("rebuilt or failed since the last run"), dest

    full = str(tmp_path / "full.duckdb")
    assert run_refresh(landing, full, "2026-06-02").success
    iterable, braze = FakeIterable(), FakeBraze()
    with FakeServer(iterable) as si, FakeServer(braze) as sb:
        for dest, url in (("iterable", si.url), ("braze", sb.url)):
            report = sync(full, dest, url, env={"OKENDO_AS_OF": "2026-06-02"})
            assert report is not None and report.status == "succeeded"
    # Profiles: the same values. Events: every occurrence a full refresh sends, once. An event
    # is sent once and never again, so one delivered before the rest of its history arrived
    # keeps the properties it was sent with (a running balance, a tier's direction); one whose
    # occurrence a later record removed (the deleted review) stays where it was delivered.
    current = {e for (e,) in rows(incremental, "select event_id from marts.customer_events")}
    for dest, fresh in (("iterable", iterable), ("braze", braze)):
        (profiles, events), (full_profiles, full_events) = held(fakes[dest][0]), held(fresh)
        assert profiles == full_profiles, dest
        assert max(events.values()) == 1 and max(full_events.values()) == 1, dest
        assert set(full_events) <= set(events), dest
        sent = rows(
            incremental,
            "select event_id from sync.event_ledger where destination = ? and status = 'sent'",
            [dest],
        )
        gone = {e for (e,) in sent} - current
        assert gone and len(events) - len(full_events) == len(gone), dest
        if dest == "iterable":
            assert set(events) - set(full_events) == gone


def assert_one_customer_rebuilt_as_a_full_refresh(
    landing: Path, database: str, tmp_path: Path
) -> None:
    """The last build was incremental, recomputed one customer and consumed its touched row,
    and the marts equal one full refresh of ``landing``."""
    full = str(tmp_path / "full.duckdb")
    assert run_refresh(landing, full, "2026-06-01").success
    assert differences(database, full) == dict.fromkeys(MARTS, 0)
    with duckdb.connect(database, read_only=True) as conn:
        last = conn.execute(
            "select full_refresh, customers from raw.model_builds order by finished_at desc limit 1"
        ).fetchone()
        left = conn.execute("select count(*) from raw.touched_customers").fetchone()[0]
    assert last == (False, 1) and left == 0


def test_a_small_load_rebuilds_only_the_customers_it_touches(tmp_path: Path) -> None:
    generated = tmp_path / "landing"
    generate(generated, 200, seed=8, as_of=date(2026, 6, 1))
    database = str(tmp_path / "w.duckdb")
    assert run_refresh(generated, database, "2026-06-01").success
    target = dbt_project.build_target(database)
    manifest = (target / "manifest.json").stat().st_mtime_ns
    land_another_review(generated, database, "late-1", rating=1)
    assert run_refresh(generated, database, "2026-06-01").success
    assert_one_customer_rebuilt_as_a_full_refresh(generated, database, tmp_path)
    # The incremental build kept its results and left the full build's manifest alone.
    results = json.loads((target / "run_results.json").read_text())
    ran = {r["unique_id"] for r in results["results"]}
    assert results["args"]["which"] == "build" and not results["args"]["write_json"]
    assert "model.okendo.customer_events" in ran
    assert not any(n.startswith(("seed.", "unit_test.")) for n in ran)  # only a full build's
    # A review reaches the review models, not the loyalty ones: those are left out, tests and
    # all, and keep their rows.
    assert {"model.okendo.int_events_reviews", "model.okendo.int_customer_keys_unioned"} <= ran
    assert not any("int_events_loyalty" in n or "int_loyalty_members" in n for n in ran)
    # The step copied the build's scope while dbt started, so dbt's hook copied nothing.
    (hook,) = (r for r in results["results"] if r["unique_id"].endswith("on-run-start-0"))
    assert hook["compiled_code"].strip() == "select 1"
    assert (target / "manifest.json").stat().st_mtime_ns == manifest
    # The marts read the rows each upstream model rebuilt (okendo_built), not the whole tables,
    # and a model left out filtered to the touched customers.
    events = compiled(database, "customer_events")
    assert '"raw"."okendo_scope_int_events_reviews"' in events
    assert '"intermediate"."int_events_reviews"' not in events
    assert '"intermediate"."int_events_loyalty" where customer_key in' in events
    # So do the tests: the relationship from the events' customers to the profiles reads the
    # copies on both sides.
    (related,) = (
        sql
        for path in (target / "compiled").rglob("relationships_customer_events_*")
        if "customer_key as from_field" in (sql := path.read_text())
    )
    assert '"raw"."okendo_scope_customer_events"' in related
    assert '"raw"."okendo_scope_customer_profiles"' in related


def compiled(database: str, model: str) -> str:
    """The SQL of ``model`` as the last build against ``database`` compiled it."""
    return compiled_in(dbt_project.build_target(database), model)


def compiled_in(target: Path, model: str) -> str:
    """The SQL of ``model`` as the last dbt command with ``target`` compiled it."""
    return next((target / "compiled").rglob(f"{model}.sql")).read_text()


def test_a_review_by_one_side_of_a_referral_rebuilds_it_from_the_build_s_scope(
    tmp_path: Path,
) -> None:
    """An incremental build's staging reads the rows copied for the touched customers
    (okendo_build_scope, dropped after the build): a review by a referral's recipient alone
    touches the recipient, whose referral events name the referrer (not touched); one by a
    referrer alone touches the referrer, whose successful-referral figures count referrals
    keyed to their recipients. Both rebuilds equal a full refresh, each recomputing one
    customer."""
    landing, database = tmp_path / "landing", str(tmp_path / "w.duckdb")
    generate(landing, 300, seed=12, as_of=date(2026, 6, 1))
    assert run_refresh(landing, database, "2026-06-01").success
    with duckdb.connect(database, read_only=True) as conn:
        recipient, referrer = conn.execute(
            "select r.customer_key, f.customer_key from raw.current_resources r "
            "join raw.current_resources f on f.resource_type = 'referrer' "
            " and f.resource_id = r.resource ->> 'referrerId' "
            "where r.resource_type = 'referral' and r.resource ->> 'status' = 'succeeded' "
            " and r.resource ->> 'channel' = 'email' and r.customer_key <> f.customer_key "
            "order by r.resource_id limit 1"
        ).fetchone()
    for n, email in enumerate((recipient, referrer)):
        land_another_review(landing, database, f"side-{n}", reviewer={"email": email})
        assert run_refresh(landing, database, "2026-06-01").success
        with duckdb.connect(database, read_only=True) as conn:
            last = conn.execute(
                "select full_refresh, customers from raw.model_builds "
                "order by finished_at desc limit 1"
            ).fetchone()
            scopes = conn.execute(
                "select count(*) from information_schema.tables "
                "where table_name like 'okendo_scope%'"
            ).fetchone()[0]
        full = str(tmp_path / f"full-{n}.duckdb")
        assert run_refresh(landing, full, "2026-06-01").success
        assert differences(database, full) == dict.fromkeys(MARTS, 0)
        assert last == (False, 1) and scopes == 0  # one recomputed; the copies dropped
    with duckdb.connect(database, read_only=True) as conn:
        named = conn.execute(
            "select count(*) from marts.customer_events where customer_key = ? "
            "and event_name = 'Okendo Referral Invitation' "
            "and properties ->> 'referrer_email' is not null",
            [recipient],
        ).fetchone()[0]
        counted = conn.execute(
            "select okendo_number_of_successful_referrals from marts.customer_profiles "
            "where customer_key = ?",
            [referrer],
        ).fetchone()[0]
    assert named >= 1 and counted >= 1


def test_a_selection_of_the_models_leaves_the_touched_customers_to_a_build_of_them_all(
    tmp_path: Path,
) -> None:
    """One mart materialized alone after a load (a selection in the UI) reads its upstream
    tables filtered, since they have no copy of this build's rows (okendo_built), and leaves
    the touched customers and the build record to the next build of every model, which then
    equals a full refresh."""
    landing, database = tmp_path / "landing", str(tmp_path / "w.duckdb")
    generate(landing, 200, seed=8, as_of=date(2026, 6, 1))
    assert run_refresh(landing, database, "2026-06-01").success
    land_another_review(landing, database, "alone-1", rating=1)
    alone = run_refresh(landing, database, "2026-06-01", models=["marts/customer_profiles"])
    assert alone.success
    built = {
        e.materialization.asset_key.to_user_string()
        for e in alone.get_asset_materialization_events()
    }
    with duckdb.connect(database, read_only=True) as conn:
        left = conn.execute("select count(*) from raw.touched_customers").fetchone()[0]
        builds = conn.execute("select count(*) from raw.model_builds").fetchone()[0]
    assert "marts/customer_profiles" in built and "marts/customer_events" not in built
    profiles = compiled(database, "customer_profiles")  # no copies: read filtered
    assert "okendo_scope_" not in profiles and '"raw"."touched_customers"' in profiles
    assert left == 1 and builds == 1  # the touched customer kept; no build recorded
    assert run_refresh(landing, database, "2026-06-01").success
    assert_one_customer_rebuilt_as_a_full_refresh(landing, database, tmp_path)


def test_a_model_rebuilt_whole_in_an_incremental_build_is_copied_from_its_table(
    tmp_path: Path,
) -> None:
    """The other way okendo_keep_built copies a model's rows for the models downstream: from
    the model's table, filtered to the touched customers, when the build did not insert them
    through a temporary table. Here `int_events_reviews` is gone and an incremental `dbt build`
    run by hand creates it whole (the pipeline would make that build a full one); the events
    downstream, read from the copy, come out as before."""
    import shutil

    landing, database = tmp_path / "landing", str(tmp_path / "w.duckdb")
    generate(landing, 100, seed=6, as_of=date(2026, 6, 1))
    assert run_refresh(landing, database, "2026-06-01").success
    before = str(tmp_path / "before.duckdb")
    shutil.copy(database, before)
    with duckdb.connect(database) as conn:
        conn.execute("drop table intermediate.int_events_reviews")
        conn.execute(
            "insert into raw.touched_customers select customer_key, 'by-hand' from "
            "marts.customer_events where event_name = 'Okendo Review Created' "
            "order by customer_key limit 1"
        )
    dbt_cli(
        WarehouseResource(database=database), tmp_path / "by-hand",
        "build", "--exclude", incremental.INCREMENTAL_EXCLUDE, as_of="2026-06-01",
    )  # fmt: skip
    events = compiled_in(tmp_path / "by-hand", "customer_events")
    assert '"raw"."okendo_scope_int_events_reviews"' in events  # read from the copy
    assert differences(database, before) == dict.fromkeys(MARTS, 0)


def test_a_micro_batch_killed_mid_build_is_repaired_by_the_next(tmp_path: Path) -> None:
    """SIGKILL ``okendo-pipeline run`` while dbt builds: dbt's process ends with it, the load is
    committed, the build is not recorded, the touched customers stay; the next run recomputes
    them and equals a full build."""
    import contextlib
    import os
    import signal
    import subprocess
    import sys
    import time

    landing, database = tmp_path / "landing", str(tmp_path / "w.duckdb")
    generate(landing, 200, seed=9, as_of=date(2026, 6, 1))
    assert run_refresh(landing, database, "2026-06-01").success
    land_another_review(landing, database, "killed-1", rating=2)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ITERABLE_", "BRAZE_"))}
    run = subprocess.Popen(
        [sys.executable, "-m", "okendo_pipeline.cli", "run", "--landing", str(landing),
         "--database", database, "--as-of", "2026-06-01"],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    # dbt builds in the run's process: its log says when the build has begun
    log = dbt_project.build_target(database) / "dbt.log"
    seen = log.stat().st_size
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and run.poll() is None:
        with log.open("rb") as lines:
            if b"START sql incremental model" in lines.read()[seen:]:
                break
        time.sleep(0.05)
    time.sleep(0.5)  # inside the build
    assert run.poll() is None, "the run ended before its dbt build could be killed"
    builders = dbt_workers(run.pid)  # dbt builds in a worker the run started
    assert builders, "no dbt process beside the run"
    os.kill(run.pid, signal.SIGKILL)  # the run's process alone, as the kernel's OOM killer would
    run.wait(30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(map(running, builders)):
        time.sleep(0.05)
    left_running = [pid for pid in builders if running(pid)]
    with contextlib.suppress(ProcessLookupError):  # Dagster's log watchers, if still there
        os.killpg(run.pid, signal.SIGKILL)
    assert not left_running, "dbt outlived its run, writing the warehouse and holding its lock"

    with duckdb.connect(database, read_only=True) as conn:
        builds = conn.execute("select count(*) from raw.model_builds").fetchone()[0]
        left = conn.execute("select count(*) from raw.touched_customers").fetchone()[0]
        loaded = conn.execute(
            "select count(*) from raw.current_resources where resource_id = 'killed-1'"
        ).fetchone()[0]
    assert (builds, loaded) == (1, 1) and left >= 1  # loaded, not built, still to do

    assert run_refresh(landing, database, "2026-06-01").success
    full = str(tmp_path / "full.duckdb")
    assert run_refresh(landing, full, "2026-06-01").success
    assert differences(database, full) == dict.fromkeys(MARTS, 0)
    with duckdb.connect(database, read_only=True) as conn:
        last = conn.execute(
            "select full_refresh from raw.model_builds order by finished_at desc limit 1"
        ).fetchone()
        left = conn.execute("select count(*) from raw.touched_customers").fetchone()[0]
    assert last == (False,) and left == 0


def test_an_incremental_build_tests_the_rows_it_rebuilt(tmp_path: Path) -> None:
    """The tests of an incremental build read the touched customers' rows: a bad value there
    fails the build; one left alone elsewhere waits for the next full build, which fails, or
    for `dbt test` run by hand, which tests every row. The incremental build leaves the views
    (staging) and their tests to full builds."""
    landing, database = tmp_path / "landing", str(tmp_path / "w.duckdb")
    generate(landing, 100, seed=4, as_of=date(2026, 6, 1))
    assert run_refresh(landing, database, "2026-06-01").success

    def corrupt(touch: bool) -> None:
        """Rate one more single-review customer's review 9 (outside 1-5), past the loader's
        checks: their profile's latest rating is 9."""
        with duckdb.connect(database) as conn:
            key, review_id = conn.execute(
                "select customer_key, any_value(resource_id) from raw.current_resources "
                "where resource_type = 'review' group by 1 "
                "having count(*) = 1 and max((resource ->> '$.rating')::int) <> 9 "
                "order by customer_key limit 1"
            ).fetchone()
            conn.execute(
                "update raw.current_resources set resource = json_merge_patch(resource, "
                "'{\"rating\": 9}') where resource_id = ?",
                [review_id],
            )
            if touch:
                conn.execute("insert into raw.touched_customers values (?, 'test')", [key])

    def failed_checks(result) -> set[str]:
        return {
            e.event_specific_data.check_name
            for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed
        }

    def checked_assets(result) -> set[str]:
        """The schemas of the assets a run built or checked."""
        return {e.asset_key.path[0] for e in result.all_events if e.asset_key is not None}

    latest_rating = "accepted_values_customer_profiles_okendo_latest_review_rating"
    corrupt(touch=False)
    corrupt(touch=True)
    first = run_refresh(landing, database, "2026-06-01")
    assert [n for n in failed_checks(first) if n.startswith(latest_rating)]
    failure = first.get_step_failure_events()[0].step_failure_data.error.cause.message
    assert f"dbt build failed:\nFailure in test {latest_rating}" in failure  # what to look at
    assert "staging" not in checked_assets(first) and "marts" in checked_assets(first)
    with duckdb.connect(database) as conn:  # put the touched one right; the other stays
        conn.execute(
            "update raw.current_resources set resource = json_merge_patch(resource, "
            "'{\"rating\": 5}') where resource_id = (select resource_id from raw.current_resources"
            " where resource_type = 'review' and (resource ->> '$.rating')::int = 9 "
            " and customer_key in (select customer_key from raw.touched_customers))"
        )
    incremental = run_refresh(landing, database, "2026-06-01")
    assert incremental.success and not failed_checks(incremental)  # the other is not its rows
    with duckdb.connect(database) as conn:  # a bad value in a profile no build touches
        conn.execute(
            "update marts.customer_profiles set okendo_latest_review_rating = 9 where customer_key"
            " = (select min(customer_key) from marts.customer_profiles "
            "    where okendo_latest_review_rating is not null)"
        )
    by_hand = dbt_cli(
        WarehouseResource(database=database), tmp_path / "by-hand",
        "test", "--no-use-colors", "--select", "customer_profiles", check=False,
    )  # fmt: skip
    assert f"Failure in test {latest_rating}" in by_hand  # `dbt test` tests every row
    full = run_refresh(landing, database, "2026-06-02")  # a new day: a full build
    assert "staging" in checked_assets(full)  # its failing test stops the marts' rebuild
    assert any(
        n.startswith("accepted_values_stg_okendo__reviews_rating") for n in failed_checks(full)
    )


def test_a_changed_dbt_project_makes_the_next_build_a_full_one() -> None:
    """An edited model must be recomputed for every customer: the project's fingerprint, kept
    with each build, decides; with it unchanged, the build is incremental and leaves the views
    and unit tests out."""
    with duckdb.connect() as conn:
        built = ("raw.touched_customers",)  # stands for the models: it exists

        def plan(project: str) -> incremental.BuildPlan:
            return incremental.plan_build(
                conn, date(2026, 6, 1), 12, requested=False, project=project, relations=built
            )

        first = plan("a")
        assert first.full_refresh and first.dbt_args() == ["--full-refresh"]
        incremental.finish_build(conn, first)
        same = plan("a")
        assert not same.full_refresh
        assert same.dbt_args() == ["--exclude", incremental.INCREMENTAL_EXCLUDE, "--no-write-json"]
        incremental.finish_build(conn, same)
        edited = plan("b")
        assert (edited.full_refresh, edited.reason) == (True, "the dbt project changed")


def test_the_project_fingerprint_follows_the_models_not_the_tests() -> None:
    manifest = json.loads(dbt_project.dbt_project.manifest_path.read_text())
    project_file = (dbt_project.DBT_PROJECT_DIR / "dbt_project.yml").read_bytes()
    before = dbt_project.fingerprint(manifest, project_file)
    assert before == dbt_project.project_fingerprint()

    def edited(kind: str) -> str:
        """The fingerprint with the first node of ``kind`` given other SQL."""
        changed = json.loads(json.dumps(manifest))
        node = next(n for n in changed["nodes"].values() if n["resource_type"] == kind)
        node["checksum"]["checksum"] = "edited"
        return dbt_project.fingerprint(changed, project_file)

    assert edited("test") == before  # a test decides nothing stored
    assert edited("model") != before
    assert dbt_project.fingerprint(manifest, project_file + b"\n# vars edited") != before
    relations = dbt_project.model_relations()
    assert "marts.customer_profiles" in relations and "staging.stg_okendo__reviews" in relations


def test_an_intermediate_model_is_fed_the_types_of_the_staging_models_above_it() -> None:
    """``feeds`` walks up the graph to the staging models' declared types; anything above a
    model that declares none (a staging model without the meta, a source read directly) makes
    it a model every incremental build rebuilds. Seeds are the project's and do not count."""

    def node(name: str, schema: str, **config: object) -> dict:
        kind = "seed" if schema == "reference" else "model"
        return {"name": name, "schema": schema, "resource_type": kind, "config": config}

    nodes = {
        "model.p.stg_a": node("stg_a", "staging", meta={"okendo_resource_types": ["a"]}),
        "model.p.stg_b": node("stg_b", "staging", meta={"okendo_resource_types": ["b", "c"]}),
        "model.p.stg_x": node("stg_x", "staging", meta={}),
        "seed.p.catalogue": node("catalogue", "reference"),
        "model.p.int_a": node("int_a", "intermediate", materialized="incremental"),
        "model.p.int_ab": node("int_ab", "intermediate", materialized="incremental"),
        "model.p.int_x": node("int_x", "intermediate", materialized="incremental"),
        "model.p.int_raw": node("int_raw", "intermediate", materialized="incremental"),
        "model.p.int_view": node("int_view", "intermediate", materialized="view"),
        "model.p.mart": node("mart", "marts", materialized="incremental"),
    }
    parents = {
        "model.p.int_a": ["model.p.stg_a", "seed.p.catalogue"],
        "model.p.int_ab": ["model.p.int_a", "model.p.stg_b"],
        "model.p.int_x": ["model.p.int_a", "model.p.stg_x"],
        "model.p.int_raw": ["source.p.raw.current_resources"],
        "model.p.mart": ["model.p.int_ab"],
    }
    fed = dbt_project.feeds({"nodes": nodes, "parent_map": parents})
    assert fed == {
        "int_a": frozenset({"a"}),
        "int_ab": frozenset({"a", "b", "c"}),
        "int_x": None,
        "int_raw": None,
    }
    assert incremental.left_out(fed, frozenset({"c"})) == ("int_a",)
    assert incremental.left_out(fed, frozenset({"a"})) == ()
    assert incremental.left_out(fed, frozenset()) == ("int_a", "int_ab")
    assert incremental.left_out(fed, None) == ()  # a load that recorded no types


def test_each_staging_model_declares_the_resource_types_its_sql_reads() -> None:
    """The declared types are what leaves models out: each staging model's must be exactly the
    types its SQL selects, and together they must cover every resource type of the contract."""
    import re

    from okendo_pipeline.lib.okendo.contract.models import RESOURCE_TYPES

    manifest = json.loads(dbt_project.dbt_project.manifest_path.read_text())
    staging = [
        n for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["schema"] == "staging"
    ]  # fmt: skip
    declared_all: set[str] = set()
    for node in staging:
        macro = dbt_project.DBT_PROJECT_DIR / "macros" / "staging" / f"{node['name']}.sql"
        sql = macro.read_text()
        read = set(re.findall(r"'(\w+)'", sql)) & set(RESOURCE_TYPES)  # the types it names
        declared = set(node["config"]["meta"].get("okendo_resource_types", []))
        assert read and declared == read, node["name"]
        declared_all |= declared
    assert declared_all == set(RESOURCE_TYPES)


def test_dbt_build_by_hand_after_a_load_runs_the_unit_tests_too(tmp_path: Path) -> None:
    """``dbt build`` run by hand while a load's touched customers wait for the next build is an
    incremental build of every node, unit tests included: each unit test reads its given rows
    (a unit test has no graph to find the build's copies in)."""
    landing, database = tmp_path / "landing", str(tmp_path / "w.duckdb")
    generate(landing, 60, seed=6, as_of=date(2026, 6, 1))
    assert run_refresh(landing, database, "2026-06-01").success
    with duckdb.connect(database) as conn:
        conn.execute(
            "insert into raw.touched_customers select customer_key, 'test' "
            "from marts.customer_profiles order by customer_key limit 3"
        )
    out = dbt_cli(
        WarehouseResource(database=database), tmp_path / "by-hand",
        "build", "--no-use-colors", check=False, as_of="2026-06-01",
    )  # fmt: skip
    assert "Completed successfully" in out, out[-3000:]
    assert out.count("PASS int_") + out.count("PASS customer_profile_attributes::") == 3
