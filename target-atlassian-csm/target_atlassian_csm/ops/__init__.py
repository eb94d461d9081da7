"""The operations a migration needs after the load: report, reconcile, retry, rollback.

Each is a subcommand of ``target-atlassian-csm-ops`` (:mod:`.cli`), declared as a Meltano
plugin command of the target, and works from the target's own settings: the ledger, the
dead-letter file and the CSM site the load used.
"""
