"""Property definitions the HubSpot sandbox serves (hubspot-api.md §2).

Every record value is a string; the definitions say how to read it: ``type`` and
``fieldType`` pairs follow the valid combinations in the reference, multi-selects
(``enumeration``/``checkbox``) are ``;``-joined, booleans are ``"true"``/``"false"``.
"""

from __future__ import annotations

from typing import Any

EPOCH_ISO = "2024-01-01T00:00:00.000Z"


def _options(*values: str) -> list[dict[str, Any]]:
    return [
        {
            "label": value.replace("_", " ").title(),
            "value": value,
            "hidden": False,
            "displayOrder": i,
            "description": "",
        }
        for i, value in enumerate(values)
    ]


def prop(
    name: str,
    type_: str,
    field_type: str,
    *,
    label: str | None = None,
    group: str = "contactinformation",
    options: list[dict[str, Any]] | None = None,
    hidden: bool = False,
    calculated: bool = False,
    hubspot_defined: bool = True,
    has_unique_value: bool = False,
    referenced_object_type: str | None = None,
    order: int = -1,
) -> dict[str, Any]:
    """One Property object, with the fields the reference lists."""
    body: dict[str, Any] = {
        "name": name,
        "label": label or name.replace("_", " ").title(),
        "type": type_,
        "fieldType": field_type,
        "groupName": group,
        "description": f"{label or name} ({type_}/{field_type})",
        "options": options or [],
        "displayOrder": order,
        "hidden": hidden,
        "calculated": calculated,
        "externalOptions": False,
        "hasUniqueValue": has_unique_value,
        "formField": not (hidden or calculated),
        "dataSensitivity": "non_sensitive",
        "archived": False,
        "createdAt": EPOCH_ISO,
        "updatedAt": EPOCH_ISO,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": calculated,
        },
    }
    if hubspot_defined:
        body["hubspotDefined"] = True
    if referenced_object_type:
        body["referencedObjectType"] = referenced_object_type
    return body


#: One custom property per valid type/fieldType combination (the "every type" seed).
CUSTOM_TYPES: list[tuple[str, str, str, list[dict[str, Any]] | None]] = [
    ("cf_text", "string", "text", None),
    ("cf_textarea", "string", "textarea", None),
    ("cf_html", "string", "html", None),
    ("cf_file", "string", "file", None),
    ("cf_select", "enumeration", "select", _options("bronze", "silver", "gold")),
    ("cf_radio", "enumeration", "radio", _options("low", "medium", "high")),
    ("cf_multi", "enumeration", "checkbox", _options("email", "phone", "chat", "sms")),
    ("cf_enum_bool", "enumeration", "booleancheckbox", _options("true", "false")),
    ("cf_bool", "bool", "booleancheckbox", _options("true", "false")),
    ("cf_number", "number", "number", None),
    ("cf_date", "date", "date", None),
    ("cf_datetime", "datetime", "date", None),
    ("cf_phone", "phone_number", "phonenumber", None),
    ("cf_calc", "number", "calculation_equation", None),
]


def _custom(group: str) -> list[dict[str, Any]]:
    out = []
    for i, (name, type_, field_type, options) in enumerate(CUSTOM_TYPES):
        out.append(
            prop(
                name,
                type_,
                field_type,
                group=group,
                options=options,
                calculated=field_type == "calculation_equation",
                hubspot_defined=False,
                order=i,
            )
        )
    return out


def contact_properties(extra: int = 0) -> list[dict[str, Any]]:
    """Contact property definitions: HubSpot defaults, one custom per type, fillers."""
    props = [
        prop("email", "string", "text", label="Email", has_unique_value=False),
        prop("firstname", "string", "text", label="First Name"),
        prop("lastname", "string", "text", label="Last Name"),
        prop("phone", "string", "phonenumber", label="Phone Number"),
        prop("company", "string", "text", label="Company Name"),
        prop("jobtitle", "string", "text", label="Job Title"),
        prop(
            "lifecyclestage",
            "enumeration",
            "radio",
            label="Lifecycle Stage",
            options=_options("subscriber", "lead", "opportunity", "customer", "other"),
        ),
        prop(
            "hs_lead_status",
            "enumeration",
            "select",
            label="Lead Status",
            options=_options("NEW", "OPEN", "IN_PROGRESS", "CONNECTED", "UNQUALIFIED"),
        ),
        prop("createdate", "datetime", "date", label="Create Date"),
        prop("lastmodifieddate", "datetime", "date", label="Last Modified Date"),
        prop("hs_object_id", "number", "number", label="Record ID"),
        prop(
            "associatedcompanyid",
            "number",
            "number",
            label="Primary Associated Company ID",
            referenced_object_type="COMPANY",
        ),
        prop(
            "hs_merged_object_ids",
            "enumeration",
            "checkbox",
            label="Merged Record IDs",
            hidden=True,
            calculated=True,
        ),
        prop("hs_email_domain", "string", "text", label="Email Domain", calculated=True),
        prop(
            "hs_analytics_num_visits",
            "number",
            "number",
            label="Number of Sessions",
            calculated=True,
        ),
        prop("hs_internal_flag", "string", "text", label="Internal", hidden=True),
        prop("hubspot_owner_id", "enumeration", "select", referenced_object_type="OWNER"),
        *_custom("contact_custom"),
    ]
    props.extend(
        prop(f"cf_extra_{i:04d}", "string", "text", group="fillers", hubspot_defined=False)
        for i in range(extra)
    )
    return props


def company_properties(extra: int = 0) -> list[dict[str, Any]]:
    """Company property definitions."""
    props = [
        prop("name", "string", "text", label="Company name", group="companyinformation"),
        prop("domain", "string", "text", label="Company Domain Name", group="companyinformation"),
        prop(
            "industry",
            "enumeration",
            "select",
            group="companyinformation",
            options=_options("SOFTWARE", "RETAIL", "MANUFACTURING", "FINANCE"),
        ),
        prop("numberofemployees", "number", "number", group="companyinformation"),
        prop("annualrevenue", "number", "number", group="companyinformation"),
        prop("createdate", "datetime", "date", group="companyinformation"),
        prop("hs_lastmodifieddate", "datetime", "date", group="companyinformation"),
        prop("hs_object_id", "number", "number", group="companyinformation"),
        prop(
            "hs_merged_object_ids",
            "enumeration",
            "checkbox",
            group="companyinformation",
            hidden=True,
            calculated=True,
        ),
        prop(
            "num_associated_contacts",
            "number",
            "number",
            group="companyinformation",
            calculated=True,
        ),
        *_custom("company_custom"),
    ]
    props.extend(
        prop(f"cf_extra_{i:04d}", "string", "text", group="fillers", hubspot_defined=False)
        for i in range(extra)
    )
    return props
