create or replace temp table g_numbered as
select resource_type, resource_id, topic,
    lpad((row_number() over (partition by resource_type order by happened_at, resource_id, tiebreak))::varchar, 12, '0')
        as sequence_number,
    resource
from g_envelopes;

create or replace temp table g_lines as
with lines as (
    select resource_type, sequence_number,
        to_json({{'resourceType': resource_type, 'topic': topic, 'sequenceNumber': sequence_number,
                  'version': '{version}', 'resource': resource}})::varchar as line
    from g_numbered
),
counts as (select resource_type, count(*) as n from lines group by all),
placed as (
    select l.resource_type, l.line, l.sequence_number,
        -- files are cut by hash, not by sequence, so deliveries arrive out of order
        'part-' || lpad((1 + hash({seed}, 'file', l.resource_type, l.sequence_number)
                            % greatest(1, ceil(c.n / {lines_per_file}))::bigint)::varchar, 5, '0')
            || '.jsonl' as file_name,
        hash({seed}, 'order', l.resource_type, l.sequence_number) as sort_key
    from lines l join counts c using (resource_type)
),
duplicates as (
    select resource_type, line, sequence_number, 'redelivery-00001.jsonl' as file_name,
        hash({seed}, 'dorder', resource_type, sequence_number) as sort_key
    from placed where u('dup', resource_type, sequence_number) < {duplicate_share}
),
bad as (
    select resource_type, sequence_number, file_name,
        hash({seed}, 'border', resource_type, sequence_number) as sort_key,
        case hash({seed}, 'bkind', resource_type, sequence_number) % 4
            when 0 then left(line, length(line) // 2)
            when 1 then replace(line, '"topic":"', '"topic":"re-')
            when 2 then replace(line, '"sequenceNumber":"', '"sequenceNumber":"seq-')
            else replace(line, '@', ' at ')
        end as line
    from placed where u('bad', resource_type, sequence_number) < {bad_share}
)
select resource_type, file_name, sort_key, line, 'ok' as kind from placed
union all select resource_type, file_name, sort_key, line, 'duplicate' from duplicates
union all select resource_type, file_name, sort_key, line, 'bad' from bad
order by resource_type, file_name, sort_key;
