"""The dbt project as Dagster sees it: where it is, and making sure its manifest exists."""

import hashlib
import json
from pathlib import Path

from dagster_dbt import DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def prepare() -> None:
    """Parse the project so the manifest matches the models (about 5 s).

    ``dagster dev`` does this itself (``prepare_if_dev``); the command line calls it before
    a run when a project file changed, so edited models are picked up; a deployment runs it
    at build time.
    """
    dbt_project.preparer.prepare(dbt_project)


def manifest_is_current() -> bool:
    """The manifest is newer than every file dbt parses (models, macros, seeds, tests, the
    project and profile files): parsing again would give the same manifest."""
    manifest = dbt_project.manifest_path
    if not manifest.exists():
        return False
    built = manifest.stat().st_mtime_ns
    root = dbt_project.project_dir
    sources = [root / "dbt_project.yml", root / "profiles.yml"]
    for folder in ("models", "macros", "seeds", "tests", "snapshots", "analyses"):
        if (root / folder).is_dir():
            sources += (p for p in (root / folder).rglob("*") if p.is_file())
    return all(p.stat().st_mtime_ns <= built for p in sources if p.exists())


def prepare_if_changed() -> None:
    """Parse when a project file changed since the last parse (about 4 s saved per run)."""
    if not manifest_is_current():
        prepare()


def ensure_manifest() -> None:
    """Parse only when there is no manifest yet, so loading definitions never fails on it."""
    if not dbt_project.manifest_path.exists():
        prepare()


def build_target(database: str) -> Path:
    """The target folder of builds against ``database``, beside it and kept between runs
    (``.okendo.duckdb.dbt`` for ``okendo.duckdb``).

    dbt reuses its parse (``partial_parse.msgpack``) only when the target folder and the vars
    are those of the last parse; dagster-dbt's default, a new folder per invocation, costs a
    full parse (about 4 s) on every micro-batch. Warehouse-writing runs never overlap, so one
    folder per warehouse is never written by two builds at once; it goes with its warehouse.
    """
    path = Path(database).resolve()
    return path.parent / f".{path.name}.dbt"


def model_relations() -> list[str]:
    """``schema.name`` of every model and seed in the manifest: what a built warehouse has."""
    nodes = json.loads(dbt_project.manifest_path.read_text())["nodes"].values()
    return sorted(
        f"{n['schema']}.{n['alias'] or n['name']}"
        for n in nodes
        if n["resource_type"] in ("model", "seed")
    )


def project_fingerprint() -> str:
    """The fingerprint of the project as parsed (see ``fingerprint``)."""
    manifest = json.loads(dbt_project.manifest_path.read_text())
    return fingerprint(manifest, (dbt_project.project_dir / "dbt_project.yml").read_bytes())


def fingerprint(manifest: dict, project_file: bytes) -> str:
    """A digest of everything that decides what the models compute: each model's and seed's
    SQL (or file) checksum and config, the project's macros, and ``dbt_project.yml`` (its vars).
    Tests are left out: they decide nothing that is stored. Builds record it; when it changes,
    the next build is a full one (an edited model must be recomputed for every customer, and
    its views re-created)."""
    parts = [
        [uid, n["checksum"]["checksum"], n["config"]]
        for uid, n in sorted(manifest["nodes"].items())
        if n["resource_type"] in ("model", "seed")
    ]
    parts += [
        [uid, m["macro_sql"]]
        for uid, m in sorted(manifest["macros"].items())
        if m["package_name"] == manifest["metadata"].get("project_name", "okendo")
    ]
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    digest.update(project_file)
    return digest.hexdigest()[:16]


def intermediate_feeds() -> dict[str, frozenset[str] | None]:
    """``feeds`` of the manifest."""
    return feeds(json.loads(dbt_project.manifest_path.read_text()))


def feeds(manifest: dict) -> dict[str, frozenset[str] | None]:
    """Each incremental model of the intermediate layer, by name: the Okendo resource types
    that reach it, from the staging models above it (their ``meta.okendo_resource_types``).
    None when something above it declares no types (a staging model without the meta, a
    source read directly): such a model is rebuilt by every incremental build."""
    nodes, parents = manifest["nodes"], manifest["parent_map"]
    out: dict[str, frozenset[str] | None] = {}
    for uid, node in nodes.items():
        config = node["config"]
        if node["schema"] != "intermediate" or config.get("materialized") != "incremental":
            continue
        types: set[str] | None = set()
        seen: set[str] = set()
        stack = [uid]
        while stack and types is not None:
            for parent in parents.get(stack.pop(), []):
                above = nodes.get(parent)
                if parent in seen or (above is not None and above["resource_type"] == "seed"):
                    continue  # a seed's rows are the project's: a change makes the build full
                seen.add(parent)
                if above is None or above["resource_type"] != "model":
                    types = None  # a source or anything else read directly
                    break
                if above["schema"] == "staging":
                    declared = above["config"].get("meta", {}).get("okendo_resource_types")
                    if not declared:
                        types = None
                        break
                    types.update(declared)
                else:
                    stack.append(parent)
        out[node["name"]] = frozenset(types) if types else None
    return out
