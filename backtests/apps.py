import sys

from django.apps import AppConfig


class BacktestsConfig(AppConfig):
    name = "backtests"
    verbose_name = "Backtests"

    def ready(self) -> None:
        # Connects the worker start-up receiver (stale-run recovery); touches no database.
        from backtests import tasks  # noqa: F401
        from backtests.cluster_processes import children_die_with_parent, is_cluster_command
        from backtests.studies import tasks as study_tasks  # noqa: F401
        from backtests.walkforward import tasks as walkforward_tasks  # noqa: F401

        # qcluster's sentinel and workers die with their parent: no orphans taking tasks.
        if is_cluster_command(sys.argv):
            children_die_with_parent()
