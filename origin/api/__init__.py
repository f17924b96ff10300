"""The management HTTP API under ``/api`` (DESIGN §6): one module per resource.

Every endpoint starts with ``await origin.auth.require(request, scope)``; errors are
raised as ``indexer.errors`` classes and rendered by ``origin.app``.
"""
