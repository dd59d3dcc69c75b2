"""The task registry: what each task family asks of adapters and how it is scored.

``registry`` maps every task name to its :class:`~imagination.tasks.base.TaskKind`; the
engine, the adapters' output checks, the store and the report go through it and hold no
task-specific branch. ``outputs`` holds the typed outputs an adapter may return.
"""
