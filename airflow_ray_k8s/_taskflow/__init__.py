"""How ``@task.ray`` turns a Python function into a RayJob entrypoint (private).

``source`` reads the function's source and checks it can run alone; ``arguments`` serializes the
call's arguments; ``entrypoint`` bundles both with ``runner`` (the program that runs on the Ray
cluster, shipped as source) into one shell command. Nothing here imports Airflow at module level.
"""
