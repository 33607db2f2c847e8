"""Renderers: they take results and return text (or rich renderables); they never print. ``report``
renders an analysis, ``worked`` the lecture's worked formulas and marks, ``numeric`` and ``solve``
the calculators' results."""
