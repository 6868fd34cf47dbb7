"""The wheel holds the pipeline and what it reads at run time, and nothing for testing."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_no_fakes_and_no_tests(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    [wheel] = tmp_path.glob("okendo_pipeline-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packages = {n.split("/")[0] for n in names if not n.endswith((".dist-info", "RECORD"))}
    assert not any(n.startswith(("okendo_fakes/", "okendo_pipeline_tests/")) for n in names)
    assert "okendo_pipeline" in packages
    assert not any("fake" in n.lower() for n in names)
    # the generator's SQL is package data, read at run time
    assert "okendo_pipeline/lib/okendo/generator/sql/generator_entities.sql" in names
