"""Prometheus metrics: the worker's series (``pipeline``), the snapshot gauges computed at scrape
time (``snapshot``) and how a scrape gathers every process's series (``exposition``). The
ingress's own request series are in ``api.metrics``."""
