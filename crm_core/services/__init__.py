"""Domain services: async functions taking (session, actor, ...); they flush, never commit."""
