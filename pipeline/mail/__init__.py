"""Mail: an email as bytes and on the wire.

Takes the built ``email.html`` and ``email.txt`` of an issue; gives one serialised message
personalised per recipient by substitution (:mod:`message`) of the unsubscribe placeholder
the renderer writes (:mod:`placeholder`), and delivers messages through
a Maildir or SMTP (:mod:`transports`), over several connections with rate limits and
retries (:mod:`pool`); signs each copy with DKIM when configured (:mod:`dkim`); sends a
single message such as a signup's confirmation (:mod:`single`). Knows nothing of the ledger.
"""
