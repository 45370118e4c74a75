"""Publish: claim → deliver → record, the one path every send takes.

Takes a built issue and the configured channels; gives one result per channel and the
ledger's record of it. :mod:`publisher` is the function ``publish issue`` and the scheduler
share; :mod:`scheduler` decides what is due; :mod:`locks` keeps two processes from
delivering the same issue on the same channel.
"""
