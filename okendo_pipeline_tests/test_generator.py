"""The sample generator: byte-identical for the same arguments, and realistic in shape."""

from __future__ import annotations

import filecmp
import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from okendo_pipeline.lib.okendo.contract.models import RESOURCE_TYPES
from okendo_pipeline.lib.okendo.generator.generate import generate
from okendo_pipeline.lib.okendo.loader import load_landing

AS_OF = date(2026, 6, 1)


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_same_arguments_give_byte_identical_files(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, 120, seed=7, as_of=AS_OF)
    generate(b, 120, seed=7, as_of=AS_OF)
    generate(c, 120, seed=8, as_of=AS_OF)
    assert tree(a) == tree(b)
    match, mismatch, errors = filecmp.cmpfiles(a, b, tree(a), shallow=False)
    assert (mismatch, errors) == ([], [])
    assert len(match) == len(tree(a)) > 13
    assert any((a / f).read_bytes() != (c / f).read_bytes() for f in tree(a) if (c / f).exists())


def test_regenerating_replaces_the_folder_contents(tmp_path: Path) -> None:
    generate(tmp_path, 50, seed=1, as_of=AS_OF)
    first = tree(tmp_path)
    (tmp_path / "review" / "part-09999.jsonl").write_text("{}\n")  # left from a larger run
    generate(tmp_path, 50, seed=1, as_of=AS_OF)
    assert tree(tmp_path) == first


@pytest.fixture(scope="module")
def loaded(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, duckdb.DuckDBPyConnection, object]:
    root = tmp_path_factory.mktemp("gen")
    report = generate(root / "landing", 2000, seed=3, as_of=AS_OF)
    conn = duckdb.connect()
    load_landing(conn, root / "landing")
    return root / "landing", conn, report


def scalar(conn: duckdb.DuckDBPyConnection, sql: str):
    return conn.execute(sql).fetchone()[0]


def test_every_resource_type_and_topic_is_present(loaded) -> None:
    landing, conn, _ = loaded
    assert sorted(p.name for p in landing.iterdir()) == sorted(RESOURCE_TYPES)
    types = {
        r[0]
        for r in conn.execute("select distinct resource_type from raw.current_resources").fetchall()
    }
    assert types == set(RESOURCE_TYPES)
    topics = dict(conn.execute("select topic, count(*) from raw.envelopes group by all").fetchall())
    assert topics["create"] > topics["update"] > topics["delete"] > 0


def test_delivery_is_messy_like_production(loaded) -> None:
    landing, conn, report = loaded
    # duplicates across files, about 1.5%
    assert 0.008 < report.duplicate_lines / report.lines < 0.025
    assert (
        scalar(conn, "select sum(envelopes_duplicate) from raw.loaded_files")
        == report.duplicate_lines
    )
    # broken lines, about 0.1% by default, all rejected and none lost
    rejected = scalar(conn, "select count(*) from raw.rejected_records")
    assert rejected == report.bad_lines
    assert 0 < rejected / report.lines < 0.004
    # sequence numbers out of order inside files
    seqs = [
        json.loads(line)["sequenceNumber"]
        for line in (landing / "order" / "part-00001.jsonl").read_text().splitlines()[:200]
    ]
    assert seqs != sorted(seqs)


def test_customers_and_reviews_are_believable(loaded) -> None:
    _, conn, _ = loaded
    per_customer = conn.execute(
        """
        select count(*) filter (where n <= 2) / count(*), avg(n)
        from (
            select c.customer_key, count(r.resource_id) as n
            from raw.current_resources c
            left join raw.current_resources r
              on r.resource_type = 'review' and r.customer_key = c.customer_key
            where c.resource_type = 'customer' group by all
        )
        """
    ).fetchone()
    assert per_customer[0] > 0.85 and 0.2 < per_customer[1] < 1.5
    ratings = dict(
        conn.execute(
            "select (resource->>'$.rating')::int, count(*) from raw.current_resources "
            "where resource_type = 'review' group by all"
        ).fetchall()
    )
    total = sum(ratings.values())
    assert (ratings[4] + ratings[5]) / total > 0.65 and ratings[1] > 0
    # sentiment agrees with the rating
    assert (
        scalar(
            conn,
            """
        select count(*) from raw.current_resources where resource_type = 'review'
          and ((resource->>'$.rating')::int >= 4 and resource->>'$.sentiment' = 'negative'
            or (resource->>'$.rating')::int <= 2 and resource->>'$.sentiment' = 'positive')
    """,
        )
        == 0
    )
    # review requests come after their orders
    assert (
        scalar(
            conn,
            """
        select count(*) from raw.current_resources rr join raw.current_resources o
          on o.resource_type = 'order' and o.resource_id = rr.resource->>'$.order.orderId'
        where rr.resource_type = 'review_request'
          and (rr.resource->>'$.dateCreated')::timestamptz
              <= (o.resource->>'$.dateCreated')::timestamptz
    """,
        )
        == 0
    )


def test_loyalty_follows_orders_and_tiers_follow_spend(loaded) -> None:
    _, conn, _ = loaded
    members = scalar(
        conn, "select count(*) from raw.current_resources where resource_type = 'loyalty_customer'"
    )
    customers = scalar(
        conn, "select count(*) from raw.current_resources where resource_type = 'customer'"
    )
    assert 0.3 < members / customers < 0.5
    # every placed-order earning matches an order of that customer, one point per whole unit
    assert (
        scalar(
            conn,
            """
        select count(*) from raw.current_resources e
        where e.resource_type = 'loyalty_earning_transaction'
          and e.resource->>'$.action' = 'placed-order'
          and not exists (
            select 1 from raw.current_resources o
            where o.resource_type = 'order' and o.customer_key = e.customer_key
              and floor((o.resource->>'$.totalPrice')::decimal(12, 2))
                  = (e.resource->>'$.points')::int)
    """,
        )
        == 0
    )
    tiers = conn.execute("""
        select resource->>'$.vipTierName' as tier, count(*) from raw.current_resources
        where resource_type = 'loyalty_customer' and resource->>'$.status' = 'enrolled' group by all
    """).fetchall()
    assert {"Bronze", "Silver", "Gold"} <= {t for t, _ in tiers}
    assert (
        scalar(
            conn,
            """
        select count(*) from raw.current_resources where resource_type = 'loyalty_customer'
          and resource->>'$.status' <> 'enrolled' and resource->>'$.vipTierName' is not null
    """,
        )
        == 0
    )
    assert (
        scalar(
            conn,
            "select count(*) from raw.current_resources where resource_type = 'loyalty_vip_tier'",
        )
        == 4
    )


def test_referral_funnel_and_surveys(loaded) -> None:
    _, conn, _ = loaded
    statuses = dict(
        conn.execute(
            "select resource->>'$.status', count(*) from raw.current_resources "
            "where resource_type = 'referral' group by all"
        ).fetchall()
    )
    assert statuses["succeeded"] < sum(statuses.values()) / 2
    assert statuses.get("rejected", 0) > 0 and statuses.get("invited", 0) > 0
    nps = scalar(
        conn,
        """
        select count(*)
        from raw.current_resources, unnest(json_extract(resource, '$.answers[*]')) a(x)
        where resource_type = 'survey_response' and x->>'$.questionType' = 'nps'
    """,
    )
    assert nps > 0
