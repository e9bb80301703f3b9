"""One module per API; :mod:`ingestion.connectors.registry` lists every endpoint."""
