{#- Rows are unique on a combination of columns (the dbt_utils test, without the package:
    dbt deps needs the hub, which these machines cannot reach). -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
