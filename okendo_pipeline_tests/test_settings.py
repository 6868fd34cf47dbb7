"""The one settings object: read from the environment, validated with the variable's name."""

import pytest

from okendo_pipeline import settings


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("OKENDO_POINTS_EXPIRY_MONTHS", "twelve", "OKENDO_POINTS_EXPIRY_MONTHS='twelve'"),
        ("OKENDO_POINTS_EXPIRY_MONTHS", "-1", "greater than or equal to 0"),
        ("OKENDO_EVENTS_BACKFILL_START", "last week", "must be all, none, an ISO date or <N>d"),
        ("OKENDO_SYNC_MAX_ATTEMPTS", "0", "OKENDO_SYNC_MAX_ATTEMPTS='0'"),
        ("OKENDO_AS_OF", "June 1", "OKENDO_AS_OF='June 1'"),
        ("BRAZE_EXTERNAL_ID", "phone", "BRAZE_EXTERNAL_ID='phone'"),
    ],
)
def test_a_bad_value_names_its_variable(monkeypatch, variable, value, message) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(settings.SettingsError) as err:
        settings.read()
    assert message in str(err.value)


def test_values_defaults_and_flags(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("OKENDO_DUCKDB_PATH", "OKENDO_SYNC_MAX_ATTEMPTS", "ITERABLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    s = settings.read()
    assert s.duckdb_path == tmp_path / "data" / "okendo.duckdb"  # absolute, from here
    assert s.sync_max_attempts == 10 and s.events_backfill_start == "30d"
    assert not s.iterable.enabled and s.iterable.base_url == "https://api.iterable.com"

    monkeypatch.setenv("OKENDO_SYNC_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("ITERABLE_API_KEY", "it-secret-789")
    s = settings.read(duckdb_path=tmp_path / "other.duckdb")  # a flag wins over the variable
    assert s.sync_max_attempts == 3 and s.duckdb_path == tmp_path / "other.duckdb"
    assert s.iterable.enabled
    # A secret is known to be set, never shown.
    assert "it-secret-789" not in repr(s) and "it-secret-789" not in str(s.model_dump())
