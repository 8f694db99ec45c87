"""The pages every mailed link opens, and the hosted sign-in (README "Pages").

Server-rendered Django templates with Django forms and CSRF protection, in German and English,
that call the same services as the API (never the API over HTTP): the same lockout, rate
limits and error taxonomy apply. Every page works without JavaScript except passkeys, whose
small self-hosted script talks to the passkey endpoints of the API.
"""
