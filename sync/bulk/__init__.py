"""Bulk operations: whole-resource exports streamed in, with the paged path as the fallback."""
