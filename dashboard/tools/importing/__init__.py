"""The importer: `sitroom import KIND FILE` and `sitroom scenario add` (docs/importing.md).

Upstream lists (CSV, XLSX, GeoJSON for areas) are read (`read`), their columns matched
to the data contract by HXL hashtag, header or mapping file (`columns`), every value
checked (`values`, `kinds`) and against the database, and written with its history
in one transaction that a single bad row rolls back (`load`); a CSV is streamed, a
chunk of rows at a time, so a million rows fit in bounded memory.
`scenario` creates scenarios and fills `countries` from the shipped ISO 3166 list.

Writes only through `store.db.writable_engine`, never through the dashboard's
read-only `Database`. Like the rest of `dashboard/tools/`, it may import anything in
`dashboard` (in practice: `contract`, `store` and `config`), never Streamlit.
"""
