"""The points-balance reconciliation check, on a real run of the refresh job."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from okendo_pipeline_tests.runs import run_refresh
from okendo_pipeline_tests.samples import envelope, resource, write_landing


def test_reconciliation_warns_and_lists_disagreeing_customers(
    landing: Path, warehouse_path: str
) -> None:
    members = [
        # agrees: 100 earned
        resource(
            "loyalty_customer",
            loyaltyCustomerId="lc-1",
            pointsBalance=100,
            customer={"email": "agree@example.com"},
        ),
        # disagrees: Okendo says 70, the ledger says 100
        resource(
            "loyalty_customer",
            loyaltyCustomerId="lc-2",
            pointsBalance=70,
            customer={"email": "differ@example.com"},
        ),
        # reports nothing: not compared
        resource(
            "loyalty_customer", loyaltyCustomerId="lc-3", customer={"email": "silent@example.com"}
        ),
    ]
    write_landing(
        landing,
        "loyalty_customer",
        "a.jsonl",
        [envelope("loyalty_customer", n + 1, res=m) for n, m in enumerate(members)],
    )
    write_landing(
        landing,
        "loyalty_earning_transaction",
        "a.jsonl",
        [
            envelope(
                "loyalty_earning_transaction",
                n + 1,
                res=resource(
                    "loyalty_earning_transaction",
                    loyaltyTransactionId=f"t{n}",
                    customer={"email": email},
                ),
            )
            for n, email in enumerate(
                ["agree@example.com", "differ@example.com", "silent@example.com"]
            )
        ],
    )
    result = run_refresh(landing, warehouse_path, as_of="2026-01-01")
    assert result.success  # a warning never fails the run
    (check,) = [
        c
        for c in result.get_asset_check_evaluations()
        if c.check_name == "points_balance_reconciliation"
    ]
    assert check.passed is False
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["disagreeing_customers"].value == 1
    assert check.metadata["customers_with_okendo_balance"].value == 2
    import hashlib

    ref = hashlib.md5(b"differ@example.com").hexdigest()[:12]
    assert check.metadata["largest_differences"].value == [
        {"customer_ref": ref, "computed": 100, "okendo": 70}
    ]
    assert "differ@example.com" not in str(check.metadata)
