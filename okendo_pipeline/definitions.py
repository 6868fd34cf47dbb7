"""Dagster entry point: load every system's definitions from ``defs/``, nothing else here."""

from pathlib import Path

import dagster as dg
from dagster.components import load_from_defs_folder

DEFS_FOLDER = Path(__file__).resolve().parent / "defs"


@dg.definitions
def defs() -> dg.Definitions:
    # DuckDB allows one writing process per file: steps that write the warehouse run in the
    # launching process, one after another, instead of Dagster's default multiprocess executor.
    return dg.Definitions.merge(
        load_from_defs_folder(path_within_project=DEFS_FOLDER),
        dg.Definitions(executor=dg.in_process_executor),
    )
