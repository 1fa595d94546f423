"""What makes the log provable and the visitor's rights real.

Signed checkpoints, receipts, retention, backups, the visitor's own page
(see, download, erase) and the privacy statement.
"""
