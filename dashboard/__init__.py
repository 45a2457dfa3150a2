"""Situation Room's core: everything that is not drawing. It runs without Streamlit
(the command line, the benchmarks and the tests use it as it is), and its layers
import only downwards (docs/architecture.md):

- `config`: the settings, declared once; `language`: the reader's language (words,
  numbers, dates), beside it;
- `contract`: the data contract the shared database holds;
- `store`: the one way to read that database, and the one cache of results;
- `rules`: who may see what, suppression, sign-in and the audit log;
- `figures`: what each page shows, for one viewer at one moment;
- `tools`: what writes: the generator, the drill simulator, the command line.
"""
