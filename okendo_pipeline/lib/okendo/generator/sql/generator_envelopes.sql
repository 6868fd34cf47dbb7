create or replace temp table g_envelopes as
-- customers: a create, and for some a later update (a new family name)
select 'customer' as resource_type, customer_id as resource_id, created_at as happened_at, 0 as tiebreak,
    'create' as topic,
    to_json({{'customerId': customer_id, 'email': email, 'givenName': given_name,
              'familyName': family_name, 'shopifyCustomerId': shopify_customer_id,
              'dateCreated': iso(created_at), 'dateUpdated': null}}) as resource
from g_customers
union all
select 'customer', customer_id, updated_at, 1, 'update',
    to_json({{'customerId': customer_id, 'email': email, 'givenName': given_name,
              'familyName': pick({last_names}, 'ln2', i, 0), 'shopifyCustomerId': shopify_customer_id,
              'dateCreated': iso(created_at), 'dateUpdated': iso(updated_at)}})
from (select *, between_ts(created_at, as_of_ts(), u('updat', i, 0)) as updated_at from g_customers)
where u('cupdate', i, 0) < 0.1
union all
-- orders: created paid; some refunded later
select 'order', order_id, ordered_at, 0, 'create',
    to_json({{'orderId': order_id, 'orderNumber': order_number,
              'customer': {{'email': c.email, 'customerId': c.customer_id}},
              'totalPrice': case when u('pricefmt', o.i, o.j) < 0.8 then to_json(total_price::varchar)
                                 else to_json(total_price) end,
              'currency': 'USD', 'financialStatus': 'paid', 'dateCreated': iso(ordered_at)}})
from g_orders o join g_customers c using (i)
where before_as_of(ordered_at)
union all
select 'order', order_id, refunded_at, 1, 'update',
    to_json({{'orderId': order_id, 'orderNumber': order_number,
              'customer': {{'email': c.email, 'customerId': c.customer_id}},
              'totalPrice': to_json(total_price::varchar),
              'currency': 'USD', 'financialStatus': 'refunded', 'dateCreated': iso(ordered_at)}})
from g_orders o join g_customers c using (i)
where refunded and before_as_of(refunded_at)
union all
-- review requests, cancelled when the order is refunded
select 'review_request', review_request_id, happened_at, tiebreak, topic,
    to_json({{'reviewRequestId': review_request_id,
              'customer': {{'email': c.email, 'customerId': c.customer_id,
                            'givenName': c.given_name, 'familyName': c.family_name}},
              'order': {{'orderId': order_id, 'orderNumber': order_number}},
              'products': [
                  {{'productId': p.product_id, 'name': p.name, 'imageUrl': p.image_url,
                    'reviewUrl': 'https://shop.example.com/review/' || review_request_id || '/' || p.p}}
                  for p in list_transform(range(n_products), lambda k:
                      plist[1 + (hash({seed}, 'rrp', r.i, r.j, k) % {n_products})::bigint])
              ],
              'status': status, 'dateCreated': iso(requested_at),
              'dateCancelled': case when status = 'cancelled' then iso(cancelled_at) end}})
from (
    select *, requested_at as happened_at, 0 as tiebreak, 'create' as topic, 'sent' as status from g_requests
    union all
    select *, cancelled_at, 1, 'update', 'cancelled' from g_requests
    where cancelled and before_as_of(cancelled_at)
) r join g_customers c using (i) cross join g_product_list
union all
-- reviews: pending ones approved later; a few deleted
select 'review', review_id, happened_at, tiebreak, topic,
    case when topic = 'delete' then to_json({{'reviewId': review_id}}) else
    to_json({{'reviewId': review_id, 'productId': p.product_id, 'productName': p.name,
              'productUrl': p.url, 'variantId': null, 'rating': rating,
              'title': {titles}[rating][1 + (hash({seed}, 'title', r.i, r.j) % 4)::bigint],
              'body': 'Used it for ' || (1 + hash({seed}, 'weeks', r.i, r.j) % 8) || ' weeks. '
                      || case when rating >= 4 then 'Would recommend.' when rating = 3 then 'It is fine.'
                              else 'Not what I hoped for.' end,
              'isRecommended': rating >= 4, 'sentiment': sentiment, 'status': status_now,
              'languageCode': pick(['en', 'en', 'en', 'en', 'fr', 'de', 'es'], 'lang', r.i, r.j),
              'dateCreated': iso(reviewed_at),
              'media': case when n_images + n_videos > 0 then
                  [{{'type': 'image', 'url': 'https://cdn.example.com/reviews/' || review_id || '/' || k || '.jpg'}}
                   for k in range(n_images)]
                  || [{{'type': 'video', 'url': 'https://cdn.example.com/reviews/' || review_id || '/v.mp4'}}
                   for k in range(n_videos)] end,
              'order': {{'orderId': order_id, 'orderNumber': order_number}},
              'achievedReward': achieved_reward,
              'reviewer': {{'email': reviewer_email, 'customerId': customer_id,
                            'displayName': given_name || ' ' || left(family_name, 1) || '.',
                            'verifiedStatus': case when u('verified', r.i, r.j) < 0.8 then 'verified-buyer'
                                                   else 'verified-reviewer' end,
                            'attributes': case when with_attributes then
                                [{{'title': 'Skin Type', 'value': pick({skin_types}, 'skin', r.i, 0)}},
                                 {{'title': 'Age Range', 'value': pick({age_ranges}, 'age', r.i, 0)}}] end}}}})
    end
from (
    select *, reviewed_at as happened_at, 0 as tiebreak, 'create' as topic, status as status_now from g_reviews
    union all
    select *, approved_at, 1, 'update', 'approved' from g_reviews
    where approved_later and before_as_of(approved_at)
    union all
    select *, deleted_at, 2, 'delete', status from g_reviews where deleted and before_as_of(deleted_at)
) r join g_products p using (p)
union all
-- survey responses: NPS, a profile question, a free-text question
select 'survey_response', okid('srv', s.i, s.j), submitted_at, 0, 'create',
    to_json({{'surveyResponseId': okid('srv', s.i, s.j), 'surveyId': 'survey-post-purchase',
              'surveyName': 'Post-purchase survey',
              'customer': {{'email': c.email, 'customerId': c.customer_id}},
              'dateSubmitted': iso(submitted_at),
              'order': case when u('sorder', s.i, s.j) < 0.6 then
                  {{'orderId': (5000000000 + hash({seed}, 'so', s.i, s.j) % 100000)::varchar,
                    'orderNumber': '#' || (1000 + hash({seed}, 'so', s.i, s.j) % 100000)}} end,
              'answers': list_filter([
                  case when u('hasnps', s.i, s.j) < 0.9 then
                      {{'questionId': 'q-nps', 'questionType': 'nps',
                        'title': 'How likely are you to recommend us to a friend?',
                        'value': to_json(case when u('nps', s.i, s.j) < 0.5 then 9 + hash({seed}, 'n9', s.i, s.j) % 2
                                              when u('nps', s.i, s.j) < 0.8 then 7 + hash({seed}, 'n7', s.i, s.j) % 2
                                              else hash({seed}, 'n0', s.i, s.j) % 7 end),
                        'profileAttribute': null}} end,
                  case when u('hasprof', s.i, s.j) < 0.4 then
                      {{'questionId': 'q-hair', 'questionType': 'single-choice', 'title': 'hairColor',
                        'value': to_json(pick({hair_colors}, 'hair', s.i, 0)), 'profileAttribute': 'hairColor'}} end,
                  case when u('hastext', s.i, s.j) < 0.5 then
                      {{'questionId': 'q-improve', 'questionType': 'text', 'title': 'What could we improve?',
                        'value': to_json(pick(['Faster shipping', 'More sizes', 'Nothing!', 'Cheaper refills'], 'txt', s.i, s.j)),
                        'profileAttribute': null}} end
              ], lambda a: a is not null)}})
from (
    select i, unnest(range(1 + (u('twosurveys', i, 0) < 0.2)::int)) as j, created_at from g_customers
    where u('survey', i, 0) < 0.25
) s join g_customers c using (i)
cross join lateral (select between_ts(s.created_at, as_of_ts(), u('sat', s.i, s.j)) as submitted_at)
union all
-- quiz responses
select 'quiz_response', okid('quiz', c.i, 0), submitted_at, 0, 'create',
    to_json({{'quizResponseId': okid('quiz', c.i, 0), 'quizId': 'quiz-routine',
              'quizName': 'Find your routine',
              'customer': {{'email': c.email, 'customerId': c.customer_id}},
              'dateSubmitted': iso(submitted_at),
              'answers': [{{'question': 'What is your skin type?', 'answer': pick({skin_types}, 'skin', c.i, 0)}},
                          {{'question': 'What is your main concern?',
                            'answer': pick(['Dryness', 'Acne', 'Dullness', 'Fine lines'], 'concern', c.i, 0)}},
                          {{'question': 'How many steps do you want?',
                            'answer': pick(['2', '3', '5'], 'steps', c.i, 0)}}],
              'recommendedProducts': [
                  {{'productId': g.product_id, 'name': g.name, 'url': g.url, 'imageUrl': g.image_url}}
                  for g in plist[1 + (hash({seed}, 'qp', c.i) % 35)::bigint :
                                 2 + (hash({seed}, 'qp', c.i) % 35)::bigint + (hash({seed}, 'qn', c.i) % 2)::bigint]]}})
from g_customers c cross join g_product_list
cross join lateral (select between_ts(c.created_at, as_of_ts(), u('qat', c.i, 0)) as submitted_at)
where u('quiz', c.i, 0) < 0.1
union all
-- VIP tiers
select 'loyalty_vip_tier', tier_id, start_ts(), rank, 'create',
    to_json({{'tierId': tier_id, 'name': name, 'rank': rank, 'spendThreshold': threshold, 'currency': 'USD'}})
from g_tiers
union all
-- loyalty transactions
select 'loyalty_earning_transaction', transaction_id, earned_at, 0, 'create',
    to_json({{'loyaltyTransactionId': transaction_id, 'loyaltyCustomerId': loyalty_customer_id,
              'customer': {{'email': email}}, 'points': points, 'action': action,
              'description': description, 'status': status, 'date': iso(earned_at)}})
from g_earnings2
union all
select 'loyalty_redemption_transaction', transaction_id, redeemed_at, 0, 'create',
    to_json({{'loyaltyTransactionId': transaction_id, 'loyaltyCustomerId': loyalty_customer_id,
              'customer': {{'email': email}}, 'pointsSpent': points_spent, 'rewardType': reward_type,
              'couponCode': case when reward_type = 'coupon' then 'OKL-' || upper(substr(hex16('cc', i, 0), 1, 8)) end,
              'couponDescription': case when reward_type = 'coupon' then '$5 off your next order' end,
              'couponExpiryDate': case when reward_type = 'coupon' then iso(redeemed_at + interval 90 day) end,
              'storeCreditAmount': case when reward_type = 'store-credit' then 5.00 end,
              'status': 'complete', 'date': iso(redeemed_at)}})
from g_redemptions
union all
select 'loyalty_adjustment_transaction', transaction_id, adjusted_at, 0, 'create',
    to_json({{'loyaltyTransactionId': transaction_id, 'loyaltyCustomerId': loyalty_customer_id,
              'customer': {{'email': email}}, 'amount': amount, 'internalReason': reason,
              'notificationText': case when amount > 0 then 'Bonus points from our team'
                                       else 'Points correction' end,
              'status': 'complete', 'date': iso(adjusted_at)}})
from g_adjustments
union all
-- loyalty customers: joined, then a version per tier reached, then a final snapshot with balance
select 'loyalty_customer', loyalty_customer_id, happened_at, tiebreak, topic,
    to_json({{'loyaltyCustomerId': loyalty_customer_id,
              'customer': {{'email': email, 'customerId': customer_id}},
              'status': status, 'dateEnrolled': iso(enrolled_at), 'birthday': birthday,
              'vipTierName': tier_name, 'vipTierEntryDate': iso(tier_entered_at),
              'vipTierExpiryDate': iso(tier_entered_at + interval 365 day),
              'pointsBalance': points_balance, 'dateUpdated': iso(happened_at)}})
from (
    select m.*, m.customer_id, coalesce(m.enrolled_at, m.created_at) as happened_at, 0 as tiebreak, 'create' as topic,
        case when m.status = 'enrolled' then 'Bronze' end as tier_name,
        m.enrolled_at as tier_entered_at, null::bigint as points_balance
    from g_members m
    union all
    select m.*, m.customer_id, s.entered_at, s.tier_rank, 'update',
        (select name from g_tiers t where t.rank = s.tier_rank), s.entered_at, null
    from g_members m join g_tier_steps s using (i, loyalty_customer_id)
    where before_as_of(s.entered_at)
    union all
    select m.*, m.customer_id, snap.happened_at, 99, 'update', last_tier.name, last_tier.entered_at,
        bal.balance + case when u('recon', m.i, 0) < 0.01 then 25 else 0 end
    from g_members m
    join lateral (
        select coalesce(sum(points) filter (where status = 'complete'), 0)
            - coalesce((select sum(points_spent) from g_redemptions r where r.i = m.i), 0)
            + coalesce((select sum(amount) from g_adjustments a where a.i = m.i), 0) as balance
        from g_earnings2 e where e.i = m.i
    ) bal on true
    join lateral (
        select coalesce(
            (select t.name from g_tier_steps s join g_tiers t on t.rank = s.tier_rank
             where s.i = m.i and before_as_of(s.entered_at) order by s.entered_at desc limit 1),
            case when m.status = 'enrolled' then 'Bronze' end) as name,
          coalesce(
            (select max(s.entered_at) from g_tier_steps s where s.i = m.i and before_as_of(s.entered_at)),
            m.enrolled_at) as entered_at
    ) last_tier on true
    join lateral (
        select least(as_of_ts() - interval 1 minute,
            greatest(coalesce(m.enrolled_at, m.created_at),
                     coalesce((select max(earned_at) from g_earnings2 e where e.i = m.i), m.created_at),
                     coalesce((select max(redeemed_at) from g_redemptions r where r.i = m.i), m.created_at))
            + interval 1 hour) as happened_at
    ) snap on true
) v
union all
-- referrers and referrals (status moves: invited -> opted-in -> succeeded | rejected)
select 'referrer', referrer_id, opted_in_at, 0, 'create',
    to_json({{'referrerId': referrer_id,
              'customer': {{'email': email, 'customerId': customer_id, 'givenName': given_name,
                            'familyName': family_name}},
              'shareableLink': link, 'locale': locale, 'dateOptedIn': iso(opted_in_at)}})
from g_referrers
union all
select 'referral', referral_id, happened_at, tiebreak, topic,
    to_json({{'referralId': referral_id, 'referrerId': referrer_id, 'channel': channel,
              'locale': locale,
              'recipient': {{'email': recipient_email, 'givenName': recipient_first,
                             'familyName': recipient_last}},
              'status': status_now, 'dateCreated': iso(created_at_r),
              'dateOptedIn': case when status_now <> 'invited' then iso(opted_in_at_r) end,
              'dateSucceeded': case when status_now = 'succeeded' then iso(final_at) end,
              'dateRejected': case when status_now = 'rejected' then iso(final_at) end,
              'rejectionReason': case when status_now = 'rejected'
                  then pick(['self-referral', 'duplicate-customer', 'order-cancelled'], 'rr', i, j) end,
              'order': case when status_now = 'succeeded'
                  then {{'orderId': order_id, 'totalPrice': order_total::varchar, 'currency': 'USD'}} end,
              'referrerCoupon': case when status_now = 'succeeded'
                  then {{'code': 'OKR-' || upper(substr(hex16('rc', i, j), 1, 8)), 'dateIssued': iso(final_at),
                         'dateRedeemed': case when referrer_redeemed and before_as_of(referrer_redeemed_at)
                                              then iso(referrer_redeemed_at) end}} end,
              'recipientCoupon': case when status_now in ('opted-in', 'succeeded', 'rejected')
                  then {{'code': 'OKR-' || upper(substr(hex16('pc', i, j), 1, 8)), 'dateIssued': iso(opted_in_at_r),
                         'dateRedeemed': case when status_now = 'succeeded' then iso(final_at) end}} end}})
from (
    select *, created_at_r as happened_at, 0 as tiebreak, 'create' as topic,
        case when channel = 'email' then 'invited' else 'opted-in' end as status_now
    from g_referrals where before_as_of(created_at_r)
    union all
    select *, opted_in_at_r, 1, 'update', 'opted-in' from g_referrals
    where channel = 'email' and opted_in and before_as_of(opted_in_at_r)
    union all
    select *, final_at, 2, 'update', case when succeeded then 'succeeded' else 'rejected' end
    from g_referrals where (succeeded or rejected) and before_as_of(final_at)
) rf;
