create or replace temp table g_customers as
select
    i,
    okid('cus', i, 0) as customer_id,
    pick({first_names}, 'fn', i, 0) as given_name,
    pick({last_names}, 'ln', i, 0) as family_name,
    lower(regexp_replace(strip_accents(given_name || '.' || family_name), '[^A-Za-z.]', '', 'g'))
        || i || '@' || pick(['example.com', 'example.net', 'example.org', 'mail.example'], 'dom', i, 0)
        as email,
    case when u('guest', i, 0) < 0.85 then (4000000000 + i * 13 + hash({seed}, 'sid', i) % 13)::varchar end
        as shopify_customer_id,
    between_ts(start_ts(), as_of_ts(), u('created', i, 0) * 0.85) as created_at
from range({customers}) t(i);

create or replace temp table g_products as
select p, 'shopify-' || (7000000000 + p * 101) as product_id, name,
       'https://shop.example.com/products/' || lower(replace(name, ' ', '-')) as url,
       'https://cdn.example.com/products/' || p || '.jpg' as image_url
from (select unnest({products}) as name, generate_subscripts({products}, 1) - 1 as p);

create or replace temp table g_product_list as
select list(g order by g.p) as plist from g_products g;

create or replace temp table g_orders as
with counts as (
    select i, created_at, u('norders', i, 0) as x,
        case when x < 0.16 then 0 when x < 0.42 then 1 when x < 0.62 then 2 when x < 0.76 then 3
             when x < 0.86 then 4 else 5 + hash({seed}, 'nmore', i) % 9 end as n
    from g_customers
),
expanded as (select i, created_at, unnest(range(n)) as j from counts)
select
    i, j,
    (5000000000 + row_number() over (order by i, j))::varchar as order_id,
    '#' || (1000 + row_number() over (order by i, j)) as order_number,
    between_ts(created_at, as_of_ts(), u('odate', i, j)) as ordered_at,
    round(12 + 380 * pow(u('price', i, j), 2), 2)::decimal(10, 2) as total_price,
    u('refund', i, j) < 0.04 as refunded,
    ordered_at + to_milliseconds((86400000 * (3 + 17 * u('refat', i, j)))::bigint) as refunded_at
from expanded;

create or replace temp table g_requests as
select
    o.i, o.j, o.order_id, o.order_number,
    okid('rr', o.i, o.j) as review_request_id,
    o.ordered_at + to_milliseconds((86400000 * (7 + 3 * u('rrat', o.i, o.j)))::bigint) as requested_at,
    1 + hash({seed}, 'nprod', o.i, o.j) % 3 as n_products,
    o.refunded and o.refunded_at > requested_at as cancelled,
    o.refunded_at as cancelled_at
from g_orders o
where u('rr', o.i, o.j) < 0.75
  and before_as_of(o.ordered_at + to_milliseconds((86400000 * (7 + 3 * u('rrat', o.i, o.j)))::bigint));

create or replace temp table g_reviews as
with base as (
    select r.*, c.email, c.given_name, c.family_name, c.customer_id, c.shopify_customer_id,
        u('rating', r.i, r.j) as x,
        case when x < 0.06 then 1 when x < 0.11 then 2 when x < 0.20 then 3 when x < 0.45 then 4
             else 5 end as rating,
        requested_at + to_milliseconds((86400000 * 10 * u('revat', r.i, r.j))::bigint) as reviewed_at
    from g_requests r join g_customers c using (i)
    where u('reviewed', r.i, r.j) < 0.36
)
select
    b.*,
    okid('rev', i, j) as review_id,
    (hash({seed}, 'rprod', i, j) % {n_products})::bigint as p,
    case
        when u('sent_null', i, j) < 0.12 then null
        when rating >= 4 then case when u('sent', i, j) < 0.9 then 'positive' else 'mixed' end
        when rating = 3 then case when u('sent', i, j) < 0.6 then 'neutral' else 'mixed' end
        else case when u('sent', i, j) < 0.85 then 'negative' else 'mixed' end
    end as sentiment,
    u('status', i, j) as sx,
    case when sx < 0.85 then 'approved' when sx < 0.95 then 'pending' else 'rejected' end as status,
    sx >= 0.85 and sx < 0.90 as approved_later,
    reviewed_at + to_milliseconds((86400000 * (1 + 3 * u('apprat', i, j)))::bigint) as approved_at,
    u('delete', i, j) < 0.003 as deleted,
    reviewed_at + to_milliseconds((86400000 * (5 + 20 * u('delat', i, j)))::bigint) as deleted_at,
    case when u('media', i, j) < 0.2 then 1 + hash({seed}, 'nmedia', i, j) % 3 else 0 end as n_images,
    case when u('video', i, j) < 0.05 then 1 else 0 end as n_videos,
    u('attrs', i, j) < 0.3 as with_attributes,
    case when u('reward', i, j) < 0.1 then 'coupon' when u('reward', i, j) < 0.18 then 'loyalty' end
        as achieved_reward,
    case when u('upper', i, j) < 0.02 then '  ' || upper(email) else email end as reviewer_email
from base b
where before_as_of(reviewed_at);

create or replace temp table g_members as
with chosen as (
    select c.*, u('loyal', i, 0) as lx from g_customers c where u('member', i, 0) < 0.4
)
select
    i, customer_id, email, created_at,
    okid('lc', i, 0) as loyalty_customer_id,
    case when lx < 0.75 then 'enrolled' when lx < 0.95 then 'pending' else 'blocked' end as status,
    case when status <> 'pending'
        then between_ts(created_at, as_of_ts(), 0.5 * u('enrolat', i, 0)) end as enrolled_at,
    case when u('bday', i, 0) < 0.7 then
        case when u('bday29', i, 0) < 0.01 then {{'day': 29, 'month': 2}}
             when u('bday29', i, 0) < 0.012 then {{'day': 31, 'month': 4}}
             else {{'day': 1 + hash({seed}, 'bd', i) % 28, 'month': 1 + hash({seed}, 'bm', i) % 12}}
        end
    end as birthday
from chosen;

create or replace temp table g_tiers as
select unnest(
    [{tiers}], recursive := true
);

-- Spend since enrolment decides the tier: one version per tier reached, dated by the order.
create or replace temp table g_tier_steps as
with spend as (
    select m.i, m.loyalty_customer_id, o.ordered_at,
        sum(o.total_price) over (partition by m.i order by o.ordered_at, o.order_id) as cum
    from g_members m join g_orders o using (i)
    where m.status = 'enrolled' and o.ordered_at >= m.enrolled_at and not o.refunded
),
ranked as (
    select s.*, (select max(rank) from g_tiers t where t.threshold::decimal(10, 2) <= s.cum) as tier_rank
    from spend s
)
select i, loyalty_customer_id, ordered_at as entered_at, tier_rank
from (
    select *, lag(tier_rank) over (partition by i order by ordered_at, cum) as prev_rank from ranked
)
where tier_rank > coalesce(prev_rank, 0);

create or replace temp table g_earnings as
select * from (
    -- signing up
    select m.i, m.loyalty_customer_id, m.email, 'signed-up' as action, 'Joined the program' as description,
        100 as points, m.enrolled_at as earned_at, 0 as j
    from g_members m where m.status = 'enrolled'
    union all
    -- orders: one point per whole unit spent (pending members earn too)
    select m.i, m.loyalty_customer_id, m.email, 'placed-order', 'Order ' || o.order_number,
        floor(o.total_price)::int, o.ordered_at + interval 1 minute, 1 + o.j
    from g_members m join g_orders o using (i)
    where m.status <> 'blocked' and o.ordered_at >= coalesce(m.enrolled_at, m.created_at)
      and floor(o.total_price) >= 1
    union all
    select m.i, m.loyalty_customer_id, m.email, 'wrote-review', 'Review of ' || r.review_id,
        50, r.reviewed_at + interval 2 minute, 1000 + r.j
    from g_members m join g_reviews r using (i)
    where m.status = 'enrolled' and r.reviewed_at >= m.enrolled_at
) e
where before_as_of(earned_at);

create or replace temp table g_earnings2 as
select *, okid('let', i, j) as transaction_id,
    case when u('estatus', i, j) < 0.94 then 'complete' when u('estatus', i, j) < 0.98 then 'pending'
         else 'cancelled' end as status
from g_earnings;

create or replace temp table g_redemptions as
with earned as (
    select i, loyalty_customer_id, email, sum(points) filter (where status = 'complete') as pts,
        max(earned_at) as last_at
    from g_earnings2 group by all
),
chosen as (
    select e.*, m.status as member_status from earned e join g_members m using (i, loyalty_customer_id, email)
    where member_status = 'enrolled' and pts >= 500 and u('redeem', i, 0) < 0.6
)
select
    i, loyalty_customer_id, email, 500 as points_spent,
    okid('lrt', i, 0) as transaction_id,
    case when u('rtype', i, 0) < 0.8 then 'coupon' else 'store-credit' end as reward_type,
    last_at + to_milliseconds((86400000 * (1 + 10 * u('redat', i, 0)))::bigint) as redeemed_at
from chosen
where before_as_of(last_at + to_milliseconds((86400000 * (1 + 10 * u('redat', i, 0)))::bigint));

create or replace temp table g_adjustments as
select m.i, m.loyalty_customer_id, m.email, okid('lat', m.i, 0) as transaction_id,
    case when u('adjsign', m.i, 0) < 0.7 then 1 else -1 end * (10 + hash({seed}, 'adj', m.i) % 91) as amount,
    pick(['Manual Adjustment', 'Goodwill gesture', 'Points correction'], 'adjr', m.i, 0) as reason,
    between_ts(coalesce(m.enrolled_at, m.created_at), as_of_ts(), u('adjat', m.i, 0)) as adjusted_at
from g_members m
where m.status = 'enrolled' and u('adjust', m.i, 0) < 0.03;

create or replace temp table g_referrers as
select c.i, c.customer_id, c.email, c.given_name, c.family_name,
    okid('ref', c.i, 0) as referrer_id,
    'https://shop.example.com/r/' || substr(hex16('link', c.i, 0), 1, 10) as link,
    pick(['en', 'en', 'en', 'fr', 'de', 'es'], 'loc', c.i, 0) as locale,
    between_ts(c.created_at, as_of_ts(), 0.6 * u('optin', c.i, 0)) as opted_in_at
from g_customers c
where u('referrer', c.i, 0) < 0.08;

create or replace temp table g_referrals as
with expanded as (
    select r.*, unnest(range(1 + hash({seed}, 'nref', r.i) % 4)) as j from g_referrers r
),
base as (
    select e.*,
        okid('rfl', i, j) as referral_id,
        case when u('chan', i, j) < 0.6 then 'email' else 'shareable-link' end as channel,
        between_ts(opted_in_at, as_of_ts(), 0.7 * u('rcreated', i, j)) as created_at_r,
        hash({seed}, 'friend', i, j) % {customers} as friend_i,
        u('existing', i, j) < 0.3 as to_customer,
        u('progress', i, j) as px
    from expanded e
)
select b.*,
    case when to_customer then f.f_email
         else 'friend.' || substr(hex16('fe', i, j), 1, 8) || '@example.net' end as recipient_email,
    case when to_customer then f.f_given else pick({first_names}, 'rfn', i, j) end as recipient_first,
    case when to_customer then f.f_family else pick({last_names}, 'rln', i, j) end as recipient_last,
    -- link referrals exist from the moment the friend opts in through the link
    channel = 'shareable-link' or px < 0.55 as opted_in,
    created_at_r + to_milliseconds((86400000 * (channel = 'email')::int * (1 + 4 * u('oat', i, j)))::bigint)
        as opted_in_at_r,
    opted_in and u('succ', i, j) < 0.45 as succeeded,
    opted_in and not succeeded and u('rej', i, j) < 0.12 as rejected,
    opted_in_at_r + to_milliseconds((86400000 * (1 + 20 * u('sat', i, j)))::bigint) as final_at,
    (6000000000 + hash({seed}, 'rord', i, j) % 1000000000)::varchar as order_id,
    round(25 + 200 * u('rprice', i, j), 2)::decimal(10, 2) as order_total,
    u('rredeem', i, j) < 0.5 as referrer_redeemed,
    final_at + to_milliseconds((86400000 * (2 + 30 * u('rrat', i, j)))::bigint) as referrer_redeemed_at
from base b left join (
    select i as f_i, email as f_email, given_name as f_given, family_name as f_family from g_customers
) f on f.f_i = b.friend_i;
