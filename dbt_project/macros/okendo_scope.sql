{#- The copy of the records an incremental build's staging reads (okendo_staged). Plain SQL and
    nothing else, so the pipeline renders this file with Jinja alone and runs it before dbt opens
    the warehouse (lib/incremental.py, prepare_scope); a build run by hand runs it from its
    on-run-start hook (okendo_build_scope). -#}

{%- macro okendo_scope_sql() -%}
{#- The touched customers' resources, the referrals of their referrer records and the referrer
    records of their referrals (a referral's events name both people), and every version of
    their loyalty members. Found on the keys, then fetched by row id: a filtered scan that also
    read the payloads took 2.4 s for 875 rows of 8.9 million, by row id 0.9 s. The keys' scan
    reads the type beside the row id, nothing more: the ids and payloads the referral rules
    need are fetched for the few referral records among them (0.1 s of CPU less per copy).
    Tables are named, not sourced: a hook has no dependencies. -#}
create or replace table raw.okendo_scope_current as
with own as (
    select rowid as row_id, resource_type
    from raw.current_resources
    where customer_key in (select customer_key from raw.touched_customers)
),
own_referral_records as (
    select resource_type, resource_id, resource ->> 'referrerId' as referrer_id
    from raw.current_resources
    where rowid in (select row_id from own where resource_type in ('referrer', 'referral'))
),
referrals_of_own_referrers as (
    select rowid as row_id from raw.current_resources
    where resource_type = 'referral' and resource ->> 'referrerId' in (
        select resource_id from own_referral_records where resource_type = 'referrer')
),
referrers_of_own_referrals as (
    select rowid as row_id from raw.current_resources
    where resource_type = 'referrer' and resource_id in (
        select referrer_id from own_referral_records where resource_type = 'referral')
)
select * from raw.current_resources where rowid in (
    select row_id from own
    union select row_id from referrals_of_own_referrers
    union select row_id from referrers_of_own_referrals
);
create or replace table raw.okendo_scope_history as
select * from raw.envelopes where rowid in (
    select rowid from raw.envelopes
    where resource_type = 'loyalty_customer' and resource_id in (
        select resource_id from raw.envelopes
        where resource_type = 'loyalty_customer' and customer_key in (select customer_key from raw.touched_customers))
);
{%- endmacro -%}
