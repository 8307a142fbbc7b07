"""The operator console: server-rendered pages under ``/console/`` (docs/console.md).

``guard`` signs browsers in and out and checks every POST; ``pages`` renders templates with the
signed-in account and its CSRF token; one module per group of pages (``sign_in``, ``sessions``)
holds their handlers, bound by operation id to the routes of ``maskline.http.routes``.
"""
