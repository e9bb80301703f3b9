{#
    The combination of `combination_of_columns` is unique in the model (a composite
    primary key). Fails with one row per duplicated combination.
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

with

grouped as (

    select
        {{ combination_of_columns | join(',\n        ') }},
        count(*) as row_count
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}

),

final as (

    select * from grouped
    where row_count > 1

)

select * from final

{% endtest %}
