"""Readers of records files: one module per layout, found by :mod:`.registry`.

A layout is one way evaluation records are laid out in files (the long table, RouterBench's
wide table, ...). To add one, write one module here that defines ``LAYOUTS``, a tuple of
:class:`~.layout.Layout` (copy :mod:`.routerbench`): turn the file into raw long rows and pass
them through :func:`.columns.validate`, so every error names the file, the column and the
row. Nothing else is edited: :func:`~routerrec.data.load.load_records` accepts the new name as
``format=`` and, when the module says how to recognise such files, infers it.
"""
