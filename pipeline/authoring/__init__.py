"""Authoring: the editor's tools that write issue folders.

Takes what the editor asks for; gives new files in the newsletter folder, never overwriting:
a new newsletter or issue (:mod:`scaffold`), entries filled from the arXiv API (:mod:`add`,
through :mod:`arxiv`), and an issue made from a digest written as plain text (:mod:`importer`).
"""
