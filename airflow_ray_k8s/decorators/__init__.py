"""TaskFlow decorators (``@task.ray``), registered through the provider's ``task-decorators`` entry."""
