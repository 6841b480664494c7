"""Framework adapters: the spec's whole HTTP surface mounted in your app in a few lines.

One module per framework, each importable only with its framework installed
(``pip install 'upload-tickets[fastapi]'``, ``[starlette]``, ``[litestar]``, ``[flask]``,
``[django]``); importing one without it says which extra to install.

- :mod:`~upload_tickets.integrations.asgi`: the framework-free ASGI app every async
  adapter wraps (and the reference server serves).
- :mod:`~upload_tickets.integrations.wsgi`: the framework-free sync surface (``respond``,
  the sweep thread, a WSGI app) the Flask and Django adapters call.
- ``fastapi``, ``starlette``, ``litestar``, ``flask``, ``django``: the adapters.

Every adapter takes an ``HttpApi`` or ``AsyncHttpApi`` (the service and your team
resolver), derives the upload URLs' path from where it is mounted (the signer names only
the public origin), and either runs the periodic sweep itself or fails loudly; with
``sweep="external"`` it leaves the sweep to ``upload-tickets sweep`` from cron. Whoever
sweeps holds the store's lease, so N workers sweep one at a time.
"""
