"""routerrec.data: evaluation records and where they come from.

``records`` (Records, Matrix, RecordsError) and ``splits``; ``load`` (load_records,
records_from_frame) reading files through ``readers/`` (one module per layout, found by
``readers.registry``); ``shared`` (the real data sets beside the project); ``sample`` (the
synthetic sample); ``bigmatrix`` (streaming Parquet into the matrix); ``locations`` (the
repository's data folders).
"""
