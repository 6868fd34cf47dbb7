"""The dbt CLI resource, pointed at the project in ``dbt_project/``."""

import dagster as dg
from dagster_dbt import DbtCliResource

from okendo_pipeline.lib.dbt_project import dbt_project


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={"dbt": DbtCliResource(project_dir=dbt_project)})
