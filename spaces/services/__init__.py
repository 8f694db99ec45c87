"""Writes for Spaces, one module per concern: ``spaces`` (personal and shared Spaces, tiers),
``members``, ``invitations``, ``permissions`` (module overrides), ``credentials``,
``singletons`` (the sync store's), on the helpers of ``base``; ``credit_notices`` is what
they tell mana-credits through accounts' outbox (shared Spaces and their members).

Every write is atomic and records its security event in the same transaction. Who may do
what: owners everything; admins manage members and invitations below owner; members read.
"""
