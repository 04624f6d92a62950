"""Forms of the registry's own pages (the admin keeps its forms in payments/admin/)."""
