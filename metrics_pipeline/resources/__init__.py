"""Resources: one class per external system, each swappable for another implementation."""
