"""The sync jobs, sensors and schedule as Dagster runs them (embedded test instance)."""

import dagster as dg
import pytest

from okendo_pipeline.defs.sync.factory import op_handle
from okendo_pipeline.pipeline import config_of
from okendo_pipeline_tests.syncing import AS_OF, BRAZE_KEY, ITERABLE_KEY, rows, scalar

MARTS = [dg.AssetKey(["marts", "customer_profiles"]), dg.AssetKey(["marts", "customer_events"])]


@pytest.fixture
def env(monkeypatch, built, fakes):
    _, db = built
    monkeypatch.setenv("OKENDO_DUCKDB_PATH", db)
    monkeypatch.setenv("OKENDO_AS_OF", AS_OF)
    monkeypatch.setenv("OKENDO_EVENTS_BACKFILL_START", "all")
    monkeypatch.setenv("ITERABLE_API_KEY", ITERABLE_KEY)
    monkeypatch.setenv("ITERABLE_BASE_URL", fakes["iterable"][1])
    monkeypatch.setenv("BRAZE_API_KEY", BRAZE_KEY)
    monkeypatch.setenv("BRAZE_REST_ENDPOINT", fakes["braze"][1])
    monkeypatch.delenv("OKENDO_DRY_RUN", raising=False)
    return db


def definitions():
    from okendo_pipeline import settings
    from okendo_pipeline.definitions import defs

    settings.load.cache_clear()  # the test may have changed the environment since
    return defs()


def tick(instance, name, cursor=None):
    sensor = definitions().get_repository_def().get_sensor_def(name)
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    return sensor(context), context


def test_sensor_says_what_it_saw(env, monkeypatch):
    with dg.instance_for_test() as instance:
        result, _ = tick(instance, "iterable_after_marts")
        assert isinstance(result, dg.SkipReason)
        assert "waiting for marts/customer_profiles, marts/customer_events" in result.skip_message

        for key in MARTS:
            instance.report_runless_asset_event(dg.AssetMaterialization(key))
        result, _ = tick(instance, "iterable_after_marts")
        again, _ = tick(instance, "iterable_after_marts")
        [request] = result.run_requests
        assert request.run_key == again.run_requests[0].run_key  # deterministic
        assert request.run_key.startswith("iterable:")
        unchanged, _ = tick(instance, "iterable_after_marts", cursor=result.cursor)
        assert "marts unchanged since the last launch" in unchanged.skip_message

        instance.report_runless_asset_event(dg.AssetMaterialization(MARTS[0]))
        rebuilt, _ = tick(instance, "iterable_after_marts", cursor=result.cursor)
        assert rebuilt.run_requests[0].run_key != request.run_key

        monkeypatch.delenv("BRAZE_API_KEY")
        off, _ = tick(instance, "braze_after_marts")
        assert off.skip_message == "Braze is off: BRAZE_API_KEY is not set"
        monkeypatch.setenv("OKENDO_DRY_RUN", "1")  # a dry run needs no key
        dry, _ = tick(instance, "braze_after_marts")
        assert dry.run_requests  # the run's settings hold OKENDO_DRY_RUN


def test_sync_job_reports_the_destination_asset(env, fakes):
    db = env
    defs = definitions()
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("iterable_sync").execute_in_process(instance=instance)
        assert result.success
        [mat] = [
            e.materialization
            for e in result.get_asset_materialization_events()
            if e.asset_key == dg.AssetKey(["destination", "iterable"])
        ]
        profiles = scalar(db, "select count(*) from marts.customer_profiles")
        assert mat.metadata["profiles_accepted"].value == profiles
        assert mat.metadata["plan_profiles_created"].value == profiles
        assert "duration_seconds" in mat.metadata
        assert len(fakes["iterable"][0].users) == profiles
        # The plan's changed fields, a table in the UI: per field, the profiles that send it.
        [plan] = [
            e.event_specific_data.metadata
            for e in result.all_events
            if e.event_type_value == "STEP_OUTPUT" and e.step_key.endswith("iterable_plan")
        ]
        records = plan["plan_changed_fields"].value.records
        counts = {r.data["field"]: r.data["profiles"] for r in records}
        assert sum(counts.values()) == plan["plan_fields"].value
        assert all(0 < n <= profiles for n in counts.values())
        # The key reached the client through EnvVar; it is nowhere in the run's events.
        logs = " ".join(str(e) for e in instance.all_logs(result.run_id))
        assert ITERABLE_KEY not in logs
        assert scalar(db, "select count(*) from sync.runs where run_id = ?", [result.run_id]) == 1


def test_sync_job_fails_clearly_when_the_destination_is_off(env, monkeypatch):
    monkeypatch.delenv("ITERABLE_API_KEY")
    with dg.instance_for_test() as instance:
        result = (
            definitions()
            .resolve_job_def("iterable_sync")
            .execute_in_process(instance=instance, raise_on_error=False)
        )
    assert not result.success
    failure = result.failure_data_for_node(op_handle("iterable", "plan"))
    assert "Iterable is off: set ITERABLE_API_KEY" in failure.error.message


def test_dry_run_job_observes_without_materializing(env, fakes):
    defs = definitions()
    dry_run = config_of(defs.resources["run_settings"], dry_run=True)
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("braze_sync").execute_in_process(
            instance=instance, run_config={"resources": {"run_settings": dry_run}}
        )
        assert result.success
        assert not result.get_asset_materialization_events()
        observations = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"]
        meta = observations[0].event_specific_data.asset_observation.metadata
        assert meta["status"].value == "dry_run"
        assert "sync.outbox_payloads" in meta["payloads"].value
        assert "@" not in str(meta)  # no address in what Dagster keeps
    assert fakes["braze"][0].count_requests() == 0


def test_schedule_runs_the_refresh_nightly():
    schedule = definitions().get_repository_def().get_schedule_def("nightly_refresh")
    assert schedule.cron_schedule == "0 2 * * *" and schedule.job_name == "okendo_refresh"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_the_micro_batch_syncs_in_its_own_run_and_the_sync_sensors_stand_down(
    env, fakes, monkeypatch, analytics_for_the_test
):
    """The landing sensor's job loads, rebuilds and syncs every destination that is on; the
    destinations' sensors then see marts their run already synced, and launch nothing."""
    landing = env.replace("okendo.duckdb", "landing")
    monkeypatch.setenv("OKENDO_LANDING_DIR", landing)
    defs = definitions()
    job = defs.resolve_job_def("okendo_micro_batch")
    assert set(job.tags["okendo/synced"].split(",")) == {"iterable", "braze"}
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        assert result.success
        synced = {
            e.asset_key.path[-1]
            for e in result.get_asset_materialization_events()
            if e.asset_key.path[0] == "destination"
        }
        assert synced == {"iterable", "braze"}
        profiles = scalar(env, "select count(*) from marts.customer_profiles")
        assert len(fakes["iterable"][0].users) == profiles
        # Published last: the sync history models hold this run's syncs.
        published = str(analytics_for_the_test)
        daily = rows(
            published,
            "select destination, runs, profiles_sent, profiles_accepted "
            "from sync_history.sync_history_daily order by destination",
        )
        assert daily == [("braze", 1, profiles, profiles), ("iterable", 1, profiles, profiles)]
        acknowledged = "select count(*) from sync_history.sync_history_acknowledged"
        assert scalar(published, acknowledged) == 2 * profiles
        for name in ("iterable", "braze"):
            stood_down, _ = tick(instance, f"{name}_after_marts")
            reason = stood_down.skip_reason.skip_message
            assert reason == f"the run that rebuilt the marts synced {name} too"
        # A rebuild by the refresh job alone is still followed by each destination's sync.
        refresh = defs.resolve_job_def("okendo_refresh").execute_in_process(instance=instance)
        assert refresh.success
        after, _ = tick(instance, "iterable_after_marts", cursor=stood_down.cursor)
        assert after.run_requests


def test_the_micro_batch_leaves_out_a_destination_that_is_off(env, monkeypatch):
    monkeypatch.delenv("BRAZE_API_KEY")
    job = definitions().resolve_job_def("okendo_micro_batch")
    assert job.tags["okendo/synced"] == "iterable"
    selected = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert "destination/iterable" in selected and "destination/braze" not in selected
