{#
    A candle's prices are consistent: low <= open, close <= high (and low <= high).
    Fails with every row that breaks it.
#}
{% test ohlc_consistency(model, open_column='open_price', high_column='high_price', low_column='low_price', close_column='close_price') %}

with

candles as (

    select * from {{ model }}

),

final as (

    select * from candles
    where
        {{ low_column }} > {{ open_column }}
        or {{ low_column }} > {{ close_column }}
        or {{ high_column }} < {{ open_column }}
        or {{ high_column }} < {{ close_column }}
        or {{ low_column }} > {{ high_column }}

)

select * from final

{% endtest %}
