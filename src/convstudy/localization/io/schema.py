"""The JSON schema of a localization document.

:meth:`~convstudy.localization.comparison.result.Localization.to_dict` writes what
``schema.json`` beside this module describes (JSON Schema draft 2020-12).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def schema() -> dict[str, Any]:
    """The JSON schema of :meth:`Localization.to_dict`."""
    text = resources.files("convstudy.localization.io").joinpath("schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def validate(document: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` if ``document`` does not follow the schema."""
    import jsonschema

    jsonschema.validate(document, schema())
