"""Several rows in one statement: each INSERT a data-modifying CTE of the next.

A sign-in writes a session, its refresh token and an audit event; sent one by one inside a
transaction, that is five round trips (BEGIN, three INSERTs, COMMIT). As one statement it is
one round trip, atomic on its own (a statement commits or fails whole), and still atomic with
the caller's transaction when there is one. Foreign keys between the rows are checked at the
end of the statement, so a parent and its children can go together.

Each INSERT is compiled by Django (``InsertQuery``), so field conversions, defaults already
set on the instance and ``pre_save`` hooks are the ORM's own. Signals are not sent: use it only
for models nothing listens to. Instances must carry their primary key (UUIDs, natural keys):
nothing is read back.
"""

from __future__ import annotations

from django.db import connections, models
from django.db.models.sql import InsertQuery


def insert_together(*objects: models.Model, using: str = "default") -> None:
    """Insert ``objects`` (in order) in one statement; mark them saved."""
    if not objects:
        return
    statements: list[str] = []
    params: list[object] = []
    for obj in objects:
        meta = obj._meta
        if obj.pk is None:
            raise ValueError(f"{meta.label} needs its primary key set before insert_together")
        query = InsertQuery(type(obj))
        query.insert_values(list(meta.local_concrete_fields), [obj])
        ((sql, sql_params),) = query.get_compiler(using=using).as_sql()
        statements.append(sql)
        params.extend(sql_params)
    *ctes, last = statements
    sql = (
        "WITH " + ", ".join(f"w{index} AS ({cte})" for index, cte in enumerate(ctes)) + " " + last
        if ctes
        else last
    )
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
    for obj in objects:
        obj._state.adding = False
        obj._state.db = using
