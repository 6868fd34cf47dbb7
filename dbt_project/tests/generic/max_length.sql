{% test max_length(model, column_name, length) %}
select {{ column_name }} from {{ model }} where strlen({{ column_name }}) > {{ length }}
{% endtest %}
