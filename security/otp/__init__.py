"""Second factors built on django-otp: a TOTP device with a KEK-sealed seed, hashed backup codes."""
