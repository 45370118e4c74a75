"""Audience: who receives an issue.

Takes the ledger and the subscriber CSV; gives the active recipients of a send. Holds the
subscriber list and its history (:mod:`subscribers`), the CSV format editors keep in Excel
(:mod:`csvfile`), the merge of that CSV before each send (:mod:`recipients`), signed
unsubscribe and confirmation links (:mod:`tokens`) and bounce and complaint handling
(:mod:`bounces`).
"""
