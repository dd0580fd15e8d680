"""Names the portal's parts share for the space's codes: sectors, classifications, the states
of a listing.  English message ids, translated where they are shown."""

from __future__ import annotations

from trustspace.web.i18n import N_

UNKNOWN = "unknown"

SECTOR_NAMES = {
    "agriculture": N_("agriculture"),
    "energy": N_("energy"),
    "finance": N_("finance"),
    "health": N_("health"),
    "manufacturing": N_("manufacturing"),
    "mobility": N_("mobility"),
    "public": N_("public sector"),
    "research": N_("research"),
    "retail": N_("retail"),
    "technology": N_("technology"),
    "telecom": N_("telecommunications"),
    UNKNOWN: N_("unknown"),
}
CLASSIFICATION_NAMES = {
    "general": N_("general data"),
    "important": N_("important data"),
    "core": N_("core data"),
    UNKNOWN: N_("unknown"),
}
LISTING_NAMES = {
    "submitted": N_("submitted"),
    "assessed": N_("assessed"),
    "listed": N_("listed"),
    "rejected": N_("rejected"),
    "delisted": N_("delisted"),
}
