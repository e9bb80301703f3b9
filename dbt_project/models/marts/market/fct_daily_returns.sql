with

daily_prices as (

    select * from {{ ref('int_daily_consensus_prices') }}

),

metrics as (

    {{ daily_return_metrics('daily_prices') }}

),

final as (

    select * from metrics

)

select * from final
