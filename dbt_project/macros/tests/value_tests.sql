{# Every non-null value of the column is > 0 (prices, rates). #}
{% test positive_value(model, column_name) %}

select * from {{ model }}
where {{ column_name }} <= 0

{% endtest %}


{# Every non-null value of the column is >= 0 (volumes, counts). #}
{% test non_negative_value(model, column_name) %}

select * from {{ model }}
where {{ column_name }} < 0

{% endtest %}


{# Every non-null value lies within [min_value, max_value]. #}
{% test value_between(model, column_name, min_value, max_value) %}

select * from {{ model }}
where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}

{% endtest %}
