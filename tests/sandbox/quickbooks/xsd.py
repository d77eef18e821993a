"""Checking the sandbox's JSON against Intuit's official QuickBooks Online V3 schema (XSD).

The schema lives outside the repository, in ../shared/apis/quickbooks (or the folder
DUELY_QUICKBOOKS_XSD_DIR names). Without it the tests about conformance skip, naming the
folder (fixture `xsd`), and the behaviour tests run without their XSD checks (fixture
`xsd_when_present`).
It is loaded once per session with xmlschema, from IntuitRestServiceDef.xsd (which includes
Finance.xsd, IntuitBaseTypes.xsd and IntuitNamesTypes.xsd). That file also includes a
Report.xsd which Intuit's Java SDK ships separately and which is not beside it, so the schema is
built with validation="lax": only the Report type is missing, and nothing here uses it.

How JSON is checked: QuickBooks' JSON is its XML with the attributes folded in as plain keys
(`"code"` of an Error, `"domain"` and `"sparse"` of an entity, `"startPosition"` of a
QueryResponse) and a reference's text content as `"value"`. `to_xsd_dict` walks the JSON along
the XSD's types and turns each such key back into xmlschema's notation (`@code`, `$` for the
text), entities in a substitution group (an Invoice where the XSD says IntuitObject) taking
their own element's type. xmlschema then encodes the dict to the XSD element (the entity's own
element, e.g. Invoice, or IntuitResponse for a whole answer) with its UnorderedConverter (JSON
keys have no order; the XSD's sequences do) and returns every error: an unknown field, a wrong
type (a string where xs:decimal is wanted, an unknown EmailStatus), a missing required attribute
(an Error's code). Encoding was chosen over validating the types by hand because it uses the
XSD's own rules for every simple type and content model.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

NS = "http://schema.intuit.com/finance/v3"
SCHEMA_FILES = (
    "IntuitRestServiceDef.xsd",
    "Finance.xsd",
    "IntuitBaseTypes.xsd",
    "IntuitNamesTypes.xsd",
)


def schema_dir() -> Path:
    configured = os.environ.get("DUELY_QUICKBOOKS_XSD_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3].parent / "shared" / "apis" / "quickbooks"


@dataclass
class IntuitSchema:
    schema: object

    def element(self, name: str):  # noqa: ANN201 - an xmlschema element
        return self.schema.maps.elements[f"{{{NS}}}{name}"]  # type: ignore[attr-defined]

    def errors(self, element: str, body: object) -> list[str]:
        """Every way `body` (QuickBooks JSON) breaks the XSD's `element`."""
        import xmlschema

        xsd_element = self.element(element)
        data = self.to_xsd_dict(body, xsd_element.type)
        _, errors = xsd_element.encode(
            data,
            validation="lax",
            converter=xmlschema.UnorderedConverter,
            namespaces={"": NS},
        )
        return [_short(error) for error in errors]

    def check(self, element: str, body: object) -> None:
        errors = self.errors(element, body)
        assert not errors, f"{element} breaks Intuit's XSD:\n" + "\n".join(errors)

    def to_xsd_dict(self, value: object, xsd_type: object) -> object:
        if isinstance(value, list):
            return [self.to_xsd_dict(item, xsd_type) for item in value]
        if not isinstance(value, dict):
            return value
        attributes = {name.split("}")[-1] for name in getattr(xsd_type, "attributes", {})}
        children = _children(xsd_type)
        converted: dict = {}
        for key, item in value.items():
            if key in attributes:
                converted[f"@{key}"] = item
            elif key == "value" and xsd_type.has_simple_content():  # type: ignore[attr-defined]
                converted["$"] = item
            elif key in children:
                converted[key] = self.to_xsd_dict(item, children[key].type)
            elif f"{{{NS}}}{key}" in self.schema.maps.elements:  # type: ignore[attr-defined]
                converted[key] = self.to_xsd_dict(item, self.element(key).type)
            else:
                converted[key] = item  # unknown: xmlschema reports it
        return converted


def _children(xsd_type: object) -> dict:
    content = getattr(xsd_type, "content", None)
    if content is None or not hasattr(content, "iter_elements"):
        return {}
    return {element.local_name: element for element in content.iter_elements()}


def _short(error: object) -> str:
    text = str(error)
    reason = text.split("Reason: ", 1)[-1].split("\n", 1)[0]
    path = getattr(error, "path", "") or ""
    return f"{path}: {reason}"


def missing() -> str:
    """Why the schema cannot be loaded ("" when it can): the folder and the files missing."""
    folder = schema_dir()
    absent = [name for name in SCHEMA_FILES if not (folder / name).exists()]
    if absent:
        return f"Intuit's QuickBooks XSD is not in {folder} (missing {', '.join(absent)})"
    return ""


def load_schema() -> IntuitSchema | None:
    """The schema, or None when its folder is missing (see `missing`)."""
    if missing():
        return None
    import xmlschema

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the absent Report.xsd, see the docstring
        schema = xmlschema.XMLSchema(
            str(schema_dir() / "IntuitRestServiceDef.xsd"), validation="lax"
        )
    return IntuitSchema(schema)


class NoSchema:
    """Stands in for the schema in behaviour tests when it is missing: checks nothing (the
    tests about the schema itself skip, naming the folder)."""

    def check(self, element: str, body: object) -> None:
        return None
