"""Build: load and render into ``public/``, incrementally.

Takes the config and the issue folders; gives the files of ``public/`` (written atomically,
only when they change) and a report of what was built. :mod:`builder` runs the load and the
renderers, in worker processes for a cold build; :mod:`state` is what a build remembers
between runs (the manifest, each issue's key); :mod:`cards` is the summary of an issue that
the index and the feeds are rebuilt from; :mod:`check` is ``publish check``.
"""
