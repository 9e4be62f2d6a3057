"""The languages people can use the CRM in, the first being the fallback. Adding one is adding its
code here and its text catalogs under handlers/locales/ (tests/test_catalogs.py checks they exist)."""

LANGUAGES: tuple[str, ...] = ("en", "ru")
