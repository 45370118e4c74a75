"""Load: issue folders → the model, with every problem found on the way.

Takes the config's ``issues/`` folder; gives :class:`pipeline.model.Issue` objects and a list
of :class:`pipeline.errors.Problem` (``file:line``, what is wrong, what to write instead),
collected rather than raised so that ``publish check`` reports them all at once.

    folders.py  which folders are issues, and the issue ids the command line may name
    issues.py   an issue folder: issue.yaml and its entries, the checks across them
    entries.py  one paper entry: front matter and Markdown body
    keys.py     what both share: YAML keys with their lines, types, assets
    hints.py    the line to write instead of a mistyped value
    markup.py   warnings about Markdown that shows as text (pipe tables, raw HTML)
    text.py     one-line fields and example text left from `publish new`
    examples.py the example text `publish new` writes, so that it can be recognised
"""
