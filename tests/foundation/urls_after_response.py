"""Test-only routes that defer work past their response (mounted with @pytest.mark.urls)."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import path

from mana_auth.after_response import after_response

# What each view defers; the test sets it before the request.
jobs: list[Callable[[], None]] = []
# What the views did, in order, with the jobs' own entries (the test reads it).
trail: list[str] = []

BODY = b"the answer"


def deferring(request: HttpRequest) -> HttpResponse:
    for job in jobs:
        after_response(job)
    trail.append("view returned")
    response = HttpResponse(BODY, content_type="text/plain")
    response["Content-Length"] = str(len(BODY))
    return response


def rolled_back(request: HttpRequest) -> HttpResponse:
    """Registers its jobs the way the services do (after commit), then fails: nothing commits."""
    with transaction.atomic():
        for job in jobs:
            transaction.on_commit(lambda job=job: after_response(job))
        trail.append("view failed")
        raise RuntimeError("the request fails before its transaction commits")


def committed_then_failed(request: HttpRequest) -> HttpResponse:
    """Commits (so its jobs are registered), then fails: the committed work is not lost."""
    with transaction.atomic():
        for job in jobs:
            transaction.on_commit(lambda job=job: after_response(job))
    trail.append("view failed")
    raise RuntimeError("the request fails after its transaction committed")


urlpatterns = [
    path("test/deferring", deferring),
    path("test/rolled-back", rolled_back),
    path("test/committed-then-failed", committed_then_failed),
]
