"""The SQL log store: schema, engine, migrations, writes and queries."""
