from django.apps import AppConfig


class BacktestsConfig(AppConfig):
    name = "backtests"
    verbose_name = "Backtests"

    def ready(self) -> None:
        # Connects the worker start-up receiver (stale-run recovery); touches no database.
        from backtests import tasks  # noqa: F401
        from backtests.studies import tasks as study_tasks  # noqa: F401
