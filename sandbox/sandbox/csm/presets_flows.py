"""The ``flows`` seed preset: a CSM site whose detail fields match the source sandboxes' data.

The ``default`` fields were chosen for the bundled sample file, so most HubSpot and Kustomer
values have nowhere to land and some (Kustomer's ``saas`` and ``travel`` industries) are not
among the options and would be dead-lettered. This preset defines the fields a CSM admin
would create before migrating those two sources. Each field is named so that the target's
automatic matching (``details_auto``: case, spaces and ``_`` ignored; Kustomer's type
suffixes stripped) finds the source property with no ``mapping`` at all:

* HubSpot (``sandbox.hubspot`` ``default`` seed): the property's label as HubSpot shows it
  (``jobtitle`` → "Job Title", ``cf_select`` → "Cf Select"), for the properties whose label
  and name agree once normalised;
* Kustomer (``sandbox.kustomer`` ``default`` seed): the custom attribute without its suffix
  (``tierStr`` → "Tier", ``lifetimeValueNum`` → "Lifetime Value").

SELECT options are the union of both sources' values in a CSM admin's spelling; the target
matches options case-insensitively. Boolean attributes (``vipBool``, ``cf_bool``) have no
field because the sandbox's default dialect has no BOOLEAN type.
"""

from __future__ import annotations

#: entity -> [(field name, CSM type, options)], in the order a site lists them.
FlowFields = dict[str, list[tuple[str, str, list[str]]]]

FLOW_FIELDS: FlowFields = {
    "customer": [
        # HubSpot contacts
        ("Phone", "PHONE", []),
        ("Job Title", "TEXT", []),
        (
            "Lifecycle Stage",
            "SELECT",
            ["Subscriber", "Lead", "Opportunity", "Customer", "Other"],
        ),
        ("Cf Select", "SELECT", ["Bronze", "Silver", "Gold"]),
        ("Cf Multi", "MULTISELECT", ["Email", "Phone", "Chat", "SMS"]),
        ("Cf Number", "NUMBER", []),
        ("Cf Date", "DATE", []),
        # Kustomer customers (attributes.custom)
        ("Tier", "SELECT", ["Gold", "Silver", "Bronze"]),
        ("Lifetime Value", "NUMBER", []),
        ("First Order", "DATE", []),
        ("Profile", "URL", []),
    ],
    "organization": [
        # both: HubSpot's industry enumeration and Kustomer's industryStr
        (
            "Industry",
            "SELECT",
            ["Software", "Retail", "Manufacturing", "Finance", "SaaS", "Travel"],
        ),
        # HubSpot companies
        ("Domain", "URL", []),
        ("Number Of Employees", "NUMBER", []),
        ("Annual Revenue", "NUMBER", []),
        ("Cf Select", "SELECT", ["Bronze", "Silver", "Gold"]),
        # Kustomer companies (attributes.custom)
        ("Employees", "NUMBER", []),
        ("Website", "URL", []),
    ],
}

#: Preset name -> its fields; :func:`sandbox.csm.seed.seed_store` defines them on seeding.
FLOW_PRESETS: dict[str, FlowFields] = {"flows": FLOW_FIELDS}
