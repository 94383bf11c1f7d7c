"""The generated Python code of the ``tasktrace.v1`` protos, under the package
path the ``.proto`` files declare."""
