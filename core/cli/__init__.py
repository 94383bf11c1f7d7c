"""The ``tasktrace`` command. :mod:`.entry` is the console script (it sets
gRPC's C-core defaults before anything imports grpc, so this package's
``__init__`` imports nothing); :mod:`.main` parses and runs ``serve`` and
``config check``, :mod:`.query` the query subcommands over the Python client,
:mod:`.eval` the ``eval`` command. The only place that exits the process."""
