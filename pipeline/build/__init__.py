"""Build: load and render into ``public/``, incrementally.

Takes the config and the issue folders; gives the files of ``public/`` (written atomically,
only when they change) and a report of what was built. :mod:`builder` runs the load and the
renderers, in worker processes for a cold build, from the tables of :mod:`outputs`;
:mod:`site` renders the site-level outputs that are due, the heaviest in a forked child while
the build renders the others; :mod:`sending` renders an issue's email and WeChat files, in a
forked child when the build renders the issue itself; :mod:`processes` says how many
processes a build may use, resets what a forked one must not inherit, and forks a child for
some of the build's work; :mod:`state` is what a build remembers
between runs (the manifest, each issue's key, and the stamp that answers a rebuild with
nothing to do without reading the manifest); :mod:`cards` is the summary of an issue that
the index and the feeds are rebuilt from; :mod:`parts` remembers the parts of large site
outputs (a tag's page and feed) so that an edit renders only those it touches;
:mod:`neighbours` writes the previous/next links into issue pages once every issue is known;
:mod:`search` is the switch that leaves the search index out of a build (the preview's);
:mod:`check` is ``publish check``; :mod:`recheck` checks again only the issues that changed
(the preview's check after every save, and `publish check` of the whole archive).
"""
