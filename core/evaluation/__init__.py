"""Measuring extraction quality: labeled conversations (:mod:`.dataset`), the
scores (:mod:`.scoring`), the harness that replays them through a real
in-process service and compares (:mod:`.harness`, :mod:`.client`), and the
span generators that speak each library's format (:mod:`.replay`). Used by
``tasktrace eval`` and the benchmarks; nothing in the service imports it."""
