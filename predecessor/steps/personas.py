"""Personas, their actions and their feedback."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from accounts.models import User
from personas.models import (
    ActionResult,
    Archetype,
    Persona,
    PersonaAction,
    PersonaFeedback,
    TickCadence,
)
from predecessor import formats
from predecessor.report import TableReport
from predecessor.steps.base import StepBase


class PersonaSteps(StepBase):
    # -- Personas --------------------------------------------------------------------------------

    def personas(self) -> None:
        for table, batch in self.batches("personas"):
            users = self.users_for(row["userId"] for row in batch)
            done = self.mapped("personas", [row["userId"] for row in batch])
            for row in batch:
                table.read += 1
                if row["userId"] in done:
                    table.unchanged += 1
                    continue
                user = users.get(row["userId"])
                if user is None:
                    table.skip("its user was not imported", row["userId"])
                elif row["archetype"] not in Archetype.values:
                    table.skip(f"archetype {row['archetype']!r} unknown here", row["userId"])
                elif Persona.objects.filter(user=user).exists():
                    self.record("personas", row["userId"], user.pk)
                    table.unchanged += 1
                    table.note("a persona here already: its actions join it", row["userId"])
                else:
                    self._persona_one(table, row, user)

    def _persona_one(self, table: TableReport, row: dict[str, Any], user: User) -> None:
        cadence = row.get("tickCadence") or TickCadence.DAILY
        if cadence not in TickCadence.values:
            table.note(f"cadence {cadence!r} unknown here: daily", row["userId"])
            cadence = TickCadence.DAILY
        Persona.objects.create(
            user=user,
            archetype=row["archetype"],
            system_prompt=row.get("systemPrompt") or "",
            module_mix=formats.json_object(row.get("moduleMix")),
            tick_cadence=cadence,
            last_active_at=row.get("lastActiveAt"),
            created_at=row.get("createdAt") or self.now,
        )
        self.record("personas", row["userId"], user.pk)
        table.imported += 1

    def _personas_for(self, source_ids: Iterable[str]) -> dict[str, Persona]:
        users = self.users_for(source_ids)
        found = {p.user_id: p for p in Persona.objects.filter(user__in=list(users.values()))}
        return {src: found[u.pk] for src, u in users.items() if u.pk in found}

    def persona_actions(self) -> None:
        for table, batch in self.batches("persona_actions"):
            personas = self._personas_for(row["personaId"] for row in batch)
            done = self.mapped("persona_actions", [row["id"] for row in batch])
            for row in batch:
                table.read += 1
                if row["id"] in done:
                    table.unchanged += 1
                    continue
                persona = personas.get(row["personaId"])
                result = row.get("result") or ActionResult.OK
                if persona is None:
                    table.skip("its persona was not imported", row["id"])
                elif result not in ActionResult.values:
                    table.skip(f"result {result!r} unknown here", row["id"])
                else:
                    latency = row.get("latencyMs")
                    self._insert(
                        table,
                        "persona_actions",
                        row["id"],
                        PersonaAction(
                            persona=persona,
                            tick_id=row["tickId"][:64],
                            tool_name=row["toolName"][:100],
                            input_hash=row["inputHash"][:128],
                            result=result,
                            detail=row.get("detail") or "",
                            latency_ms=latency if isinstance(latency, int) and latency >= 0 else 0,
                            created_at=row.get("createdAt") or self.now,
                        ),
                        "the same call on the same tick is here already",
                    )

    def persona_feedback(self) -> None:
        for table, batch in self.batches("persona_feedback"):
            personas = self._personas_for(row["personaId"] for row in batch)
            done = self.mapped("persona_feedback", [row["id"] for row in batch])
            for row in batch:
                table.read += 1
                if row["id"] in done:
                    table.unchanged += 1
                    continue
                persona = personas.get(row["personaId"])
                rating = row.get("rating")
                if persona is None:
                    table.skip("its persona was not imported", row["id"])
                elif not isinstance(rating, int) or not 1 <= rating <= 5:
                    table.skip("rating outside 1 to 5", row["id"])
                else:
                    self._insert(
                        table,
                        "persona_feedback",
                        row["id"],
                        PersonaFeedback(
                            persona=persona,
                            tick_id=row["tickId"][:64],
                            module=row["module"][:64],
                            rating=rating,
                            notes=row.get("notes") or "",
                            created_at=row.get("createdAt") or self.now,
                        ),
                        "feedback on the same module and tick is here already",
                    )
