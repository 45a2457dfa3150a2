"""What writes: the synthetic scenario generator (`generate`, `bulk`), the drill
simulator and its scripts (`simulate`, `drill_script`), the importer of upstream files
(`importing`) and the `sitroom` command line (`cli`). They write through
`store.db.writable_engine`; the dashboard itself never does. May import anything in
`dashboard`.
"""
