"""Mail: an email as bytes and on the wire.

Takes the built ``email.html`` and ``email.txt`` of an issue; gives one serialised message
personalised per recipient by substitution (:mod:`message`), and delivers messages through
a Maildir or SMTP (:mod:`transports`), over several connections with rate limits and
retries (:mod:`pool`). Knows nothing of subscribers or the ledger.
"""
