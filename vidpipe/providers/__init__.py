"""Generative providers: one module per service, plus `placeholder` (offline, free).

Each live provider follows submit -> poll -> download and reports a `vidpipe.refs.Usage`;
`placeholder` makes real media of the same kind without calling anything, for
`mode: placeholder` runs, tests and cost estimates.
"""
