"""Activity labels: label spaces and maps, AMASS sequence rules, BABEL frame labels, review overrides,
applying labels to a recording store, and label cleaning.

Modules (import them directly; this package imports nothing):

- ``maps``: named label spaces (synthetic12, dip5, opportunity14, harth, hapt12 ...) and maps between them.
- ``rules``: the 12 synthetic categories per AMASS sequence from sub-dataset / path / name rules.
- ``babel``: per-frame categories from BABEL action labels.
- ``overrides``: reviewers' accept / relabel / reject decisions.
- ``apply``: ``label_store`` runs rules, BABEL and overrides over a store and writes the labels.
- ``filtering``: acceleration-based filtering of labelled windows.
"""
