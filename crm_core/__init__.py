"""The CRM itself: models, services, permissions, errors and migrations. Knows nothing of Telegram."""
