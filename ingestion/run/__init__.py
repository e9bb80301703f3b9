"""A run of ingestion: plan, fetch, keep every response in the lake, load raw, account for it.

* :mod:`~ingestion.run.ingest`: :func:`run_ingestion`, the entry point (CLI, Dagster);
* :mod:`~ingestion.run.pipeline`: one endpoint's pipeline (:class:`EndpointPipeline`);
* :mod:`~ingestion.run.pages`: the one page parser of fetch and replay, and page checks;
* :mod:`~ingestion.run.batches`: loading batches, and checking the numbers afterwards;
* :mod:`~ingestion.run.bookkeeping`: each endpoint's ``raw.ingestion_runs`` row;
* :mod:`~ingestion.run.replay`: rebuilding ``raw.*`` from the lake;
* :mod:`~ingestion.run.results`: what a run reports;
* :mod:`~ingestion.run.stores`: where a run writes.

This package never imports Dagster.
"""
