"""Repairing a target model towards its source, guided by a localization."""
