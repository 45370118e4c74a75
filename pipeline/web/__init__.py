"""Web: the WSGI endpoint, ``pipeline.web:app``.

Takes HTTP requests; gives the archive from ``public/``, one-click unsubscribe and signup with
double opt-in (:mod:`endpoint`), on top of small HTTP pieces that know nothing of subscribers
(:mod:`files`); and the editors' live preview (:mod:`preview`), a scratch build served with its
problems on every page and reloaded on each change.
"""

from pipeline.web.endpoint import app, create_app, make_server

__all__ = ["app", "create_app", "make_server"]
