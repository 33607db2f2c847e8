"""The analysis: the pure integer arithmetic of one layer (``core``) and the walk that turns a
spec into a :class:`~cnncalc.analysis.walk.Report` (``walk``). Neither imports torch, pydantic's
models aside, nor anything that renders."""
