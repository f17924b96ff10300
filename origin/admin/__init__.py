"""The admin web UI at ``/admin``: server-rendered pages (Jinja2) with a little script.

Routes are in :mod:`origin.admin.routes`; this package's modules are one page or one
concern each (sessions, guard, rendering, links, gateway to the indexer).
"""
