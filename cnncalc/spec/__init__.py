"""The spec as written: the pydantic models (``models``), YAML loading with every error located
(``loader``), the bundled architectures (``bundled``) and the expression language of ``${...}``
values (``expressions``)."""
