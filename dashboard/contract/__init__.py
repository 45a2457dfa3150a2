"""The data contract: what the shared database holds and what its values mean.

`models` (typed SQLAlchemy tables, each column with its HXL hashtag), `migrations`
(Alembic), `schema` (which version a database holds) and `vocab` (every controlled
value). docs/data-contract.md says the same for upstream systems. Imports nothing of
the dashboard but `config`.
"""
