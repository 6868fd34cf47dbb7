"""The dbt project as Dagster sees it: where it is, and making sure its manifest exists."""

from pathlib import Path

from dagster_dbt import DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def prepare() -> None:
    """Parse the project so the manifest matches the models (about 5 s).

    ``dagster dev`` does this itself (``prepare_if_dev``); the command line calls it before
    each run so edited models are picked up; a deployment runs it at build time.
    """
    dbt_project.preparer.prepare(dbt_project)


def ensure_manifest() -> None:
    """Parse only when there is no manifest yet, so loading definitions never fails on it."""
    if not dbt_project.manifest_path.exists():
        prepare()
