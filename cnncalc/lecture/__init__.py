"""The lecture as a workbench: formulas worked with their numbers (``worked``), marking answers
(``check``), exercises (``quiz``), inverse questions (``solve``) and the numeric operators of the
lecture's examples (``numeric``). Nothing here prints; the renderers show the results."""
