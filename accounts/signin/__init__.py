"""Signing in: every flow that ends in a session lives here, one module per flow.

``password`` (email and password), ``second_factor`` (the MFA hand-off and ``login/mfa``),
``magic_link``, ``passkey`` (the passkey sign-in; registration and management are
``accounts.passkeys``), ``session`` (the session every flow ends in) and ``failures`` (the one
recorder of a failed credential: lockout count, audit rows, the lock notice). The building
blocks sit below in ``security``: lockout policy, rate limits, OTP devices, events.
"""
