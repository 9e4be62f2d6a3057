"""Bitrix24's codes for our items, stages and fields: the one place that says which Bitrix24 field
is which of ours (crm_core.bitrix.codes), how an item reads as a Bitrix24 record and how Bitrix24
fields become a change (records), and how a Bitrix24 list filter becomes our filter language
(filters). The REST API (handlers/http/rest) and any importer use it."""
