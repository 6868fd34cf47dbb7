"""The names fixed for what leaves the warehouse (specification: "Profiles", "Events").

The 22 profile properties, one table here: the mart column (= Braze key), the Iterable field
name and the kind of value, which decides how each destination formats it. The 18 event types
are the dbt seed ``event_catalogue``, read here too, so the dbt test, the model docs and the
Python code share one list.
"""

import csv
import functools
from dataclasses import dataclass
from typing import Literal

from okendo_pipeline.lib.dbt_project import DBT_PROJECT_DIR

Kind = Literal["string", "integer", "number", "date"]


@dataclass(frozen=True)
class ProfileField:
    column: str  # marts.customer_profiles column and Braze attribute key
    iterable_name: str
    kind: Kind


PROFILE_FIELDS: tuple[ProfileField, ...] = (
    ProfileField("okendo_given_name", "Okendo Given Name", "string"),
    ProfileField("okendo_family_name", "Okendo Family Name", "string"),
    ProfileField("okendo_number_of_reviews", "Okendo Number of Reviews", "integer"),
    ProfileField("okendo_average_review_rating", "Okendo Average Review Rating", "number"),
    ProfileField("okendo_latest_review_rating", "Okendo Latest Review Rating", "integer"),
    ProfileField("okendo_latest_review_sentiment", "Okendo Latest Review Sentiment", "string"),
    ProfileField("okendo_average_review_sentiment", "Okendo Average Review Sentiment", "string"),
    ProfileField(
        "okendo_number_of_survey_responses", "Okendo Number of Survey Responses", "integer"
    ),
    ProfileField("okendo_latest_nps", "Okendo Latest NPS", "integer"),
    ProfileField("okendo_latest_nps_category", "Okendo Latest NPS Category", "string"),
    ProfileField("okendo_latest_nps_date", "Okendo Latest NPS Date", "date"),
    ProfileField("okendo_referral_shareable_link", "Okendo Referral Shareable Link", "string"),
    ProfileField(
        "okendo_number_of_successful_referrals", "Okendo Number of Successful Referrals", "integer"
    ),
    ProfileField(
        "okendo_latest_successful_referral_date", "Okendo Latest Successful Referral Date", "date"
    ),
    ProfileField(
        "okendo_total_successful_referral_revenue",
        "Okendo Total Successful Referral Revenue",
        "number",
    ),
    ProfileField("okendo_loyalty_program_status", "Okendo Loyalty Program Status", "string"),
    ProfileField("okendo_loyalty_enrolment_date", "Okendo Loyalty Enrolment Date", "date"),
    ProfileField("okendo_loyalty_points_balance", "Okendo Loyalty Points Balance", "integer"),
    ProfileField("okendo_loyalty_points_expiry_date", "Okendo Loyalty Points Expiry Date", "date"),
    ProfileField("okendo_loyalty_next_birthday_date", "Okendo Loyalty Next Birthday Date", "date"),
    ProfileField("okendo_loyalty_vip_tier", "Okendo Loyalty VIP Tier", "string"),
    ProfileField(
        "okendo_loyalty_vip_tier_expiry_date", "Okendo Loyalty VIP Tier Expiry Date", "date"
    ),
)

FIELDS_BY_COLUMN: dict[str, ProfileField] = {f.column: f for f in PROFILE_FIELDS}

# Fields whose value moves with the run's ``as_of`` alone (no new data): the guard leaves them
# out of its share of changed profiles.
CALENDAR_FIELDS: frozenset[str] = frozenset({"okendo_loyalty_next_birthday_date"})

# Profile-question answers (Braze only): ``okendo_profile_<snake_case title>``, string values.
PROFILE_ATTRIBUTE_PREFIX = "okendo_profile_"

EVENT_CATALOGUE = DBT_PROJECT_DIR / "seeds" / "event_catalogue.csv"


@dataclass(frozen=True)
class EventType:
    """One row of the event catalogue: ``variant`` tells apart two shapes of one event name
    (by their ``customer_role``)."""

    name: str
    variant: str | None
    properties: tuple[str, ...]
    timestamp_properties: frozenset[str]


@functools.cache
def event_types() -> tuple[EventType, ...]:
    with EVENT_CATALOGUE.open(newline="", encoding="utf-8") as f:
        return tuple(
            EventType(
                name=row["event_name"],
                variant=row["variant"] or None,
                properties=tuple(row["properties"].split()),
                timestamp_properties=frozenset(row["timestamp_properties"].split()),
            )
            for row in csv.DictReader(f)
        )


def event_names() -> frozenset[str]:
    return frozenset(t.name for t in event_types())


# Event properties that carry a timestamp (written ``YYYY-MM-DDTHH:MM:SSZ`` in the mart).
EVENT_TIMESTAMP_PROPERTIES = frozenset().union(*(t.timestamp_properties for t in event_types()))
