"""The key-encryption key (KEK): wrapping under it, the configured keyring, and the registry of
everything wrapped by it (``manage.py rewrap_vaults`` walks it after a rotation).

Cross-cutting, so it lives in the core: the vault's master keys, the JWT signing keys, the TOTP
seeds and the Space credentials are all sealed with it, and each app registers its own
rewrapper in its ``AppConfig.ready()``.
"""
