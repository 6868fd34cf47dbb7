"""What one sync run did: its plan, the outcome of every row by kind, requests, timings."""

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from okendo_pipeline.lib.destinations import BatchResult, Status
from okendo_pipeline.lib.sync.plan import PlanCounts
from okendo_pipeline.lib.sync.settings import SyncSettings

RowKind = Literal["profile", "event"]
# A row's outcome as the report counts it: a row to retry is one that failed this run.
COUNTED_AS: dict[Status, str] = {"accepted": "accepted", "rejected": "rejected", "retry": "failed"}


@dataclass
class SyncReport:
    run_id: str
    destination: str
    settings: SyncSettings
    status: str = "running"
    plan: PlanCounts = field(default_factory=PlanCounts)
    outcomes: Counter[tuple[RowKind, str]] = field(default_factory=Counter)
    requests: int = 0
    identities_merged: int = 0
    possible_duplicates: int = 0
    recovered_runs: int = 0
    diff_seconds: float = 0.0
    duration_seconds: float = 0.0
    error: str | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)
    rejections: Counter[str] = field(default_factory=Counter)

    @property
    def dry_run(self) -> bool:
        return self.settings.dry_run

    def count_outcomes(self, kind: RowKind, result: BatchResult) -> None:
        """Count a batch's outcomes by status, and the reasons of the rows rejected."""
        for status, counted_as in COUNTED_AS.items():
            if n := result.count(status):
                self.outcomes[(kind, counted_as)] += n
        if result.exceptions or result.status == "rejected":
            self.rejections.update(result.reasons("rejected"))

    @property
    def profiles_accepted(self) -> int:
        return self.outcomes[("profile", "accepted")]

    @property
    def profiles_rejected(self) -> int:
        return self.outcomes[("profile", "rejected")]

    @property
    def profiles_failed(self) -> int:
        return self.outcomes[("profile", "failed")]

    @property
    def events_accepted(self) -> int:
        return self.outcomes[("event", "accepted")]

    @property
    def events_rejected(self) -> int:
        return self.outcomes[("event", "rejected")]

    @property
    def events_failed(self) -> int:
        return self.outcomes[("event", "failed")]

    def counters(self) -> dict[str, int]:
        """Every outcome counter by name (``profiles_accepted``, ``events_failed``, ...)."""
        return {
            f"{kind}s_{outcome}": self.outcomes[(kind, outcome)]
            for kind in ("profile", "event")
            for outcome in ("accepted", "rejected", "failed")
        }

    def as_metadata(self) -> dict[str, Any]:
        """Flat values for run metadata: the plan's counts as ``plan_*``."""
        return {
            "status": self.status,
            "dry_run": self.dry_run,
            **self.counters(),
            "requests": self.requests,
            "identities_merged": self.identities_merged,
            "possible_duplicates": self.possible_duplicates,
            "recovered_runs": self.recovered_runs,
            "diff_seconds": round(self.diff_seconds, 2),
            "duration_seconds": round(self.duration_seconds, 2),
            **({"error": self.error} if self.error else {}),
            **{f"plan_{k}": v for k, v in asdict(self.plan).items() if v is not None},
        }
