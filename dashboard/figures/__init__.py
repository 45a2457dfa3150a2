"""What each page shows, counted on the server for one viewer at one moment: one
module per subject (`overview`, `geo` for the Map, `shelters`, `referrals`,
`evacuation`, `people` for My nationals, `review` for the Drill page, `quality`),
the situation report gathered from them (`report`) and typeset as a PDF
(`report_pdf`), the shared per-group counts they sum (`tallies`), and the facts
found at start (`warmup`). Every function takes the `Database` and the viewer, asks `rules` what
the viewer may see, and returns values already suppressed. May import `rules`,
`store`, `contract` and `config`.
"""
