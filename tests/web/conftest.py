from tests.web.portal import browser, close_clients  # noqa: F401  (one Chromium per session)
