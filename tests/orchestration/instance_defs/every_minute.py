"""A tiny code location for the instance test: one op, one job, a schedule every minute.

It is tagged like an ingestion run of one provider and its op sits in that provider's
pool, so the run goes through deploy/dagster.yaml's run queue, tag limits and pools.
"""

from dagster import DefaultScheduleStatus, Definitions, ScheduleDefinition, job, op


@op(pool="fx")
def ping() -> int:
    return 1


@job(tags={"criptopipe.provider/fx": "instance-test"})
def tiny_job() -> None:
    ping()


every_minute = ScheduleDefinition(
    name="every_minute",
    job=tiny_job,
    cron_schedule="* * * * *",
    default_status=DefaultScheduleStatus.RUNNING,
)

defs = Definitions(jobs=[tiny_job], schedules=[every_minute])
