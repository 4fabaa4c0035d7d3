"""The side-by-side benchmark against scim2-server: ``python -m bench.compare --help``.

Modules: ``servers`` (start both, seed each straight into its storage), ``peer`` (scim2-server's
ASGI app under uvicorn), ``workloads`` (the same requests for both), ``run`` (options, the order of
the run, the JSON), ``report`` (the markdown table and the cost-against-data ratios).
"""
