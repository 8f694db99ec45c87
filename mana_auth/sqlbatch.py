"""Several rows in one statement: each INSERT a data-modifying CTE of the next.

A sign-in writes a session, its refresh token and an audit event; sent one by one inside a
transaction, that is five round trips (BEGIN, three INSERTs, COMMIT). As one statement it is
one round trip, atomic on its own (a statement commits or fails whole), and still atomic with
the caller's transaction when there is one. Foreign keys between the rows are checked at the
end of the statement, so a parent and its children can go together.

Each INSERT is compiled by Django (``InsertQuery``), so field conversions, defaults already
set on the instance and ``pre_save`` hooks are the ORM's own. Signals are not sent: use it only
for models nothing listens to. Instances carry their primary key (UUIDs, natural keys), or
leave an automatic one (``AutoField``) unset for its sequence: nothing is read back, so such
an instance's ``pk`` stays None.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections, models
from django.db.models.sql import InsertQuery


def _conditional(sql: str, fields: list[models.Field], connection: object) -> str:
    """``INSERT … VALUES (%s, …)`` as ``INSERT … SELECT %s::type, … WHERE EXISTS (guard)``.

    Outside VALUES a literal of unknown type would be taken for text (which no assignment cast
    turns into inet, uuid, …), so each value is cast to its column's type; text columns are
    cast to ``text``, never to ``varchar(n)``, which would truncate instead of refusing.
    """
    head, _, values = sql.partition(" VALUES (")
    if values.rstrip(")") != ", ".join(["%s"] * len(fields)):
        raise ValueError("insert_together(only_if=…) needs plain %s placeholders")
    casts = []
    for field in fields:
        db_type = field.db_type(connection) or "text"
        textual = db_type.startswith(("varchar", "char", "text"))
        casts.append("%s::" + ("text" if textual else db_type))
    # Column types come from the models, never from input.
    return f"{head} SELECT {', '.join(casts)} WHERE EXISTS (SELECT 1 FROM guard)"  # noqa: S608


def insert_together(
    *objects: models.Model,
    using: str = "default",
    only_if: tuple[str, list[object]] | None = None,
    also: Sequence[tuple[str, list[object]]] = (),
) -> bool:
    """Insert ``objects`` (in order) in one statement; mark them saved.

    ``only_if`` is a data-modifying statement ending in ``RETURNING`` (a conditional UPDATE)
    that runs first in the same statement: the rows are inserted only when it returns a row,
    so the condition, its write and the inserts are one round trip and one atomic unit.
    ``also`` are further data-modifying statements (an UPDATE or DELETE, no RETURNING needed)
    that go with the rows, atomically, in the same round trip; they run unconditionally, so
    they cannot be combined with ``only_if``. Returns whether the rows were inserted.
    """
    if not objects:
        return True
    if only_if is not None and also:
        raise ValueError("insert_together(also=…) runs unconditionally: not with only_if")
    connection = connections[using]
    statements: list[str] = []
    params: list[object] = []
    for index, (sql, sql_params) in enumerate(also):
        statements.append(f"x{index} AS ({sql})")
        params.extend(sql_params)
    if only_if is not None:
        statements.append(f"guard AS ({only_if[0]})")
        params.extend(only_if[1])
    for index, obj in enumerate(objects):
        meta = obj._meta
        fields = list(meta.local_concrete_fields)
        if obj.pk is None:
            if meta.auto_field is None:
                raise ValueError(f"{meta.label} needs its primary key set before insert_together")
            fields.remove(meta.auto_field)  # left to its sequence
        query = InsertQuery(type(obj))
        query.insert_values(fields, [obj])
        ((sql, sql_params),) = query.get_compiler(using=using).as_sql()
        if only_if is not None:
            sql = _conditional(sql, fields, connection)
        statements.append(f"w{index} AS ({sql})")
        params.extend(sql_params)
    final = "SELECT EXISTS (SELECT 1 FROM guard)" if only_if is not None else "SELECT TRUE"
    with connection.cursor() as cursor:
        cursor.execute("WITH " + ", ".join(statements) + " " + final, params)
        (inserted,) = cursor.fetchone()
    if inserted:
        for obj in objects:
            obj._state.adding = False
            obj._state.db = using
    return bool(inserted)
