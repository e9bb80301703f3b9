with

runs as (

    select * from {{ ref('stg_ingestion__runs') }}

),

final as (

    select
        ingestion_run_id,
        source_name,
        endpoint_name,
        started_at,
        finished_at,
        extract(epoch from finished_at - started_at)::numeric as duration_seconds,
        run_status,
        is_success,
        request_count,
        retry_count,
        fetched_count,
        inserted_count,
        updated_count,
        unchanged_count,
        quarantined_count,
        lake_document_count,
        error_message,
        notes
    from runs

)

select * from final
