"""Reads that run on every request, compiled to SQL once instead of per call.

The ORM builds and compiles every queryset anew: a primary-key `get()` took ~0.45 ms of CPU on
the 2-core machine, of which SQLite's own work was ~0.035 ms. A request to MGX makes four such
reads before its view does anything (bench/read_profile.py: the login session, its user, the
token behind the login, the app), which made the editor's file read cost 4-4.5x an empty Django
request (bench/load.py). `RowQuery` is one such read: a model's columns by a fixed WHERE,
with the same values in the model instance as the ORM gives (the backend's and the fields'
converters, `Model.from_db`).

    TOKEN = RowQuery(AccessToken, "{id} = %s AND {user} = %s", fields=("id", "expires"))
    token = TOKEN.get(token_id, user_id)  # an AccessToken with id and expires, or None

`{name}` in the WHERE is a field's column (by name or attname), quoted and qualified; values
are passed as the database takes them (datetimes through `db_datetime`).
"""
from __future__ import annotations

from django.db import connections, router


class RowQuery:
    def __init__(self, model, where: str, *, fields: tuple[str, ...] | None = None):
        self.model = model
        self.where = where
        self.fields = fields
        self._compiled: dict[str, tuple] = {}

    def _compile(self, alias: str) -> tuple:
        connection = connections[alias]
        meta = self.model._meta
        quote = connection.ops.quote_name
        table = quote(meta.db_table)
        columns = {}
        for field in meta.concrete_fields:
            columns[field.name] = columns[field.attname] = f"{table}.{quote(field.column)}"
        chosen = [f for f in meta.concrete_fields
                  if self.fields is None or f.name in self.fields or f.attname in self.fields]
        sql = (f"SELECT {', '.join(columns[f.attname] for f in chosen)} FROM {table} "
               f"WHERE {self.where.format(**columns)}")
        converters = []
        for index, field in enumerate(chosen):
            column = field.get_col(meta.db_table)
            found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if found:
                converters.append((index, found, column))
        compiled = self._compiled[alias] = (sql, [f.attname for f in chosen], converters)
        return compiled

    def get(self, *params, using: str | None = None):
        """The one row the WHERE matches as a model instance (the first, should it match more),
        or None."""
        alias = using or router.db_for_read(self.model)
        sql, attnames, converters = self._compiled.get(alias) or self._compile(alias)
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        values = list(row)
        for index, found, column in converters:
            value = values[index]
            for convert in found:
                value = convert(value, column, connection)
            values[index] = value
        return self.model.from_db(alias, attnames, values)


def db_datetime(value, *, model=None, using: str | None = None):
    """`value` (an aware datetime) as the database compares it with a DateTimeField's column."""
    alias = using or (router.db_for_read(model) if model is not None else "default")
    return connections[alias].ops.adapt_datetimefield_value(value)
