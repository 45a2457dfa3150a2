"""Reading the shared database: `db.Database` owns the read-only engine, the query
time limit, the SQL forms that differ between SQLite and PostgreSQL, and the facts
the server keeps about the data for every viewer (`facts.SharedFacts`, stale while
revalidated). `cache.scoped` is the one cache of query results, keyed by scope,
never by user name. May import `contract` and `config`.
"""
