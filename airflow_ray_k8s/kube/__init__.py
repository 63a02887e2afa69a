"""The only code that talks to Kubernetes: config, clients, watches, the dashboard proxy."""
