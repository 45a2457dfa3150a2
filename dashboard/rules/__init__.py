"""The do-no-harm rules (docs/design.md §2, §3) and who looked: a reviewer checks who
may see what in `access` and every suppression in `privacy`. `auth` and `users` are
the sign-in rules and the users file; `audit` the record of every view and export,
kept with the dashboard's other own files (`ownfiles`). May import `contract`,
`store` and `config`.
"""
