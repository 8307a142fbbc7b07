"""The operator console: server-rendered pages under ``/console/`` (docs/console.md).

``guard`` signs browsers in and out and checks every POST (origin and CSRF token) before its
handler runs; ``pages.render`` renders a template with the signed-in account, its CSRF token and
the menu, and gives templates the ``masked``, ``when`` and ``seconds`` filters and the
``web_address`` test (only such a URL becomes a link); one module per group of pages
(``sign_in``, ``sessions``) holds their handlers, which ``handlers`` binds by operation id to the
routes of ``maskline.http.routes``.

A new page is a ``Route(..., console=True)`` in the route table (with ``nav=`` to be in the menu),
a handler ``(request, signed, form) -> Response`` that ends in ``render``, a template extending
``base.html`` whose forms carry ``csrf_token``, and its line in ``handlers.console_handlers``.
"""
